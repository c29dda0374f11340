"""Half-open validity intervals ``[start, end)``; ``None`` leaves a side unbounded.

Two intervals overlap when each starts before the other ends (docs/queries.md),
so ``[1, 5)`` and ``[5, 9)`` do not, and an empty ``[t, t)`` overlaps any
interval that strictly contains ``t``.
"""

from __future__ import annotations

from collections.abc import Iterable

from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.storage.base import TimeWindow

Interval = tuple[int | None, int | None]


def interval_of(edge: EdgeRecord) -> Interval:
    return edge.props.get(VALID_FROM), edge.props.get(VALID_TO)


def existed_at(edge: EdgeRecord, at_us: int | None) -> bool:
    """The graph held ``edge`` at ``at_us`` (docs/queries.md, "as of"): its first write
    has an event time at or before ``at_us``, and its validity interval, if it has one,
    contains ``at_us``. ``None`` means no time filter."""
    if at_us is None:
        return True
    return recorded_by(edge, at_us) and valid_at(edge, at_us)


def valid_at(edge: EdgeRecord, at_us: int) -> bool:
    """The edge's interval contains ``at_us`` (no interval: always)."""
    start, end = interval_of(edge)
    return (start is None or start <= at_us) and (end is None or at_us < end)


def recorded_by(edge: EdgeRecord, at_us: int | None) -> bool:
    """The edge's first write has an event time at or before ``at_us`` (``None``: always):
    the graph knew of it then, whatever its interval (history stays history)."""
    return at_us is None or edge.origin is None or edge.origin.created_at <= at_us


def window_interval(window: TimeWindow) -> Interval:
    return window.start, window.end


def _starts_before_end(start: int | None, end: int | None) -> bool:
    return start is None or end is None or start < end


def overlaps(a: Interval, b: Interval) -> bool:
    return _starts_before_end(a[0], b[1]) and _starts_before_end(b[0], a[1])


def cut(a: Interval, b: Interval) -> Interval | None:
    """The intersection of two intervals, ``None`` when they do not overlap."""
    if not overlaps(a, b):
        return None
    starts = [s for s in (a[0], b[0]) if s is not None]
    ends = [e for e in (a[1], b[1]) if e is not None]
    return (max(starts) if starts else None, min(ends) if ends else None)


def hull(intervals: Iterable[Interval]) -> TimeWindow:
    """The narrowest window that overlaps every edge overlapping one of ``intervals``."""
    starts: list[int] = []
    ends: list[int] = []
    open_start = open_end = False
    for start, end in intervals:
        open_start |= start is None
        open_end |= end is None
        if start is not None:
            starts.append(start)
        if end is not None:
            ends.append(end)
    return TimeWindow(
        None if open_start or not starts else min(starts),
        None if open_end or not ends else max(ends),
    )


def none_first(value: int | None) -> tuple[bool, int]:
    """Sort key: an unbounded start (``None``) before any time."""
    return value is not None, value or 0


def none_last(value: int | None) -> tuple[bool, int]:
    """Sort key: an unbounded end (``None``) after any time."""
    return value is None, value or 0
