"""Times: µs since the Unix epoch (UTC) in the store, aware datetimes in GraphQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleetgraph.core.clock import wall_clock_us

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def to_datetime(us: int | None) -> datetime | None:
    """A store time as a timezone-aware UTC datetime (``None`` stays ``None``)."""
    return None if us is None else EPOCH + timedelta(microseconds=us)


def to_us(value: datetime | None) -> int | None:
    """A datetime as µs since the epoch; a naive datetime is read as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // ONE_US


def now_us() -> int:
    """The wall clock in µs since the epoch (the default "now" of the server)."""
    return wall_clock_us()
