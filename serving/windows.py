"""Time arguments of GraphQL fields turned into store windows."""

from __future__ import annotations

from datetime import datetime

from fleetgraph.core.units import HOUR_US
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.times import to_us
from fleetgraph.storage.base import TimeWindow

DEFAULT_HOTNESS_SPAN_US = 24 * HOUR_US


def as_of(at: datetime | None) -> TimeWindow | None:
    """Edges whose interval contains ``at`` (``None``: every edge, past and present)."""
    us = to_us(at)
    return None if us is None else TimeWindow.at(us)


def between(start: datetime | None, end: datetime | None) -> TimeWindow:
    """The half-open window ``[start, end)``; a missing side is unbounded."""
    window = TimeWindow(to_us(start), to_us(end))
    if window.start is not None and window.end is not None and window.start > window.end:
        raise InvalidArgument("'from' must not be after 'to'")
    return window


def edge_window(
    at: datetime | None, start: datetime | None, end: datetime | None
) -> TimeWindow | None:
    """``at`` (as-of) or ``from``/``to`` (overlap), not both; neither: no window."""
    if at is not None:
        if start is not None or end is not None:
            raise InvalidArgument("give either 'at' or 'from'/'to', not both")
        return as_of(at)
    if start is None and end is None:
        return None
    return between(start, end)


def recent(start: datetime | None, end: datetime | None, now: int) -> TimeWindow:
    """A window ending at ``end`` (default now), starting 24 h earlier unless ``start``."""
    end_us = to_us(end)
    if end_us is None:
        end_us = now
    start_us = to_us(start)
    if start_us is None:
        start_us = end_us - DEFAULT_HOTNESS_SPAN_US
    if start_us > end_us:
        raise InvalidArgument("'from' must not be after 'to'")
    return TimeWindow(start_us, end_us)
