"""Time units: every event time, interval end and TTL in fleetgraph is an integer
count of microseconds since the Unix epoch (Avro's ``timestamp-micros``)."""

from __future__ import annotations

US = 1
MS_US = 1_000
SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US


def seconds_to_us(seconds: float) -> int:
    """Seconds (float) to whole microseconds, rounded."""
    return round(seconds * SECOND_US)


def us_to_seconds(us: int) -> float:
    return us / SECOND_US
