"""Validity intervals: the one declaration of what they mean.

An interval is half-open, ``[start, end)``, in µs since the Unix epoch; ``None``
leaves a side open (unbounded). It contains the instants ``start <= t < end``.
Two intervals overlap when each starts before the other ends (docs/queries.md),
so ``[1, 5)`` and ``[5, 9)`` do not, and an empty ``[t, t)`` overlaps any
interval that strictly contains ``t``.

A temporal edge keeps its interval in the properties ``valid_from`` and
``valid_to`` (:data:`~fleetgraph.graph_model.types.VALID_FROM`,
:data:`~fleetgraph.graph_model.types.VALID_TO`), empty while open. A read over a
:class:`TimeWindow` keeps the edges whose interval overlaps it;
:func:`overlap_bounds` states that as conditions on the two stored columns, from
which each backend derives its filter (the SQL ``WHERE`` of the embedded store,
the row filter of the Cassandra store).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from fleetgraph.graph_model.types import VALID_FROM, VALID_TO

Interval = tuple[int | None, int | None]
"""``(start, end)``: the half-open ``[start, end)``; ``None`` leaves a side open."""


def starts_before_end(start: int | None, end: int | None) -> bool:
    """Something starting at ``start`` begins before something ending at ``end``."""
    return start is None or end is None or start < end


def overlaps(a: Interval, b: Interval) -> bool:
    """Each of ``a`` and ``b`` starts before the other ends."""
    return starts_before_end(a[0], b[1]) and starts_before_end(b[0], a[1])


def contains(interval: Interval, instant: int) -> bool:
    """``start <= instant < end`` (an open side holds every instant)."""
    start, end = interval
    return (start is None or start <= instant) and (end is None or instant < end)


valid_at = contains
"""Another name of :func:`contains`: an interval is valid at the instants it holds."""


def cut(a: Interval, b: Interval) -> Interval | None:
    """The intersection of two intervals, ``None`` when they do not overlap."""
    if not overlaps(a, b):
        return None
    starts = [s for s in (a[0], b[0]) if s is not None]
    ends = [e for e in (a[1], b[1]) if e is not None]
    return (max(starts) if starts else None, min(ends) if ends else None)


def hull(intervals: Iterable[Interval]) -> Interval:
    """The narrowest interval that overlaps every interval overlapping one of ``intervals``
    (its start is open when one of them starts open, or when there are none; its end
    likewise)."""
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
    return (
        None if open_start or not starts else min(starts),
        None if open_end or not ends else max(ends),
    )


def step_index(starts: Sequence[int], instant: int) -> int:
    """Of the steps ``[starts[i], starts[i + 1])`` of a sorted ``starts`` (the last
    one open), the index ``i`` of the one that contains ``instant``; -1 before the
    first. A value set at each start holds until the next: the value at ``instant``."""
    return bisect_right(starts, instant) - 1


def none_first(value: int | None) -> tuple[bool, int]:
    """Sort key: an open start (``None``) before any time."""
    return value is not None, value or 0


def none_last(value: int | None) -> tuple[bool, int]:
    """Sort key: an open end (``None``) after any time."""
    return value is None, value or 0


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open window ``[start, end)`` in µs; ``None`` leaves a side open."""

    start: int | None = None
    end: int | None = None

    @property
    def interval(self) -> Interval:
        return self.start, self.end

    def overlaps(self, valid_from: int | None, valid_to: int | None) -> bool:
        """The interval ``[valid_from, valid_to)`` overlaps this window."""
        return starts_before_end(valid_from, self.end) and starts_before_end(self.start, valid_to)

    @classmethod
    def at(cls, instant: int) -> TimeWindow:
        """The window of one instant: it overlaps exactly the intervals containing it."""
        return cls(instant, instant + 1)

    @classmethod
    def of(cls, interval: Interval) -> TimeWindow:
        return cls(interval[0], interval[1])


class ColumnBound(NamedTuple):
    """A condition on a stored interval column: ``column operator bound``, and also
    true when the column is empty (``NULL``: that side of the interval is open)."""

    column: str  # VALID_FROM or VALID_TO
    operator: Literal["<", ">"]
    bound: int

    def holds(self, value: int | None) -> bool:
        if value is None:
            return True
        return value < self.bound if self.operator == "<" else value > self.bound


def overlap_bounds(window: TimeWindow) -> list[ColumnBound]:
    """The stored intervals overlapping ``window``, as conditions on the columns
    ``valid_from`` and ``valid_to`` that all must hold: ``valid_from < window.end``
    and ``valid_to > window.start``, each left out when that side of the window is
    open. The same as :meth:`TimeWindow.overlaps`, for a backend to filter with."""
    bounds: list[ColumnBound] = []
    if window.end is not None:
        bounds.append(ColumnBound(VALID_FROM, "<", window.end))
    if window.start is not None:
        bounds.append(ColumnBound(VALID_TO, ">", window.start))
    return bounds


def satisfies(bounds: Iterable[ColumnBound], valid_from: int | None, valid_to: int | None) -> bool:
    """Every condition of ``bounds`` holds for the stored ``valid_from`` and ``valid_to``."""
    values = {VALID_FROM: valid_from, VALID_TO: valid_to}
    return all(b.holds(values[b.column]) for b in bounds)
