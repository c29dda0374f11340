"""The one declaration of validity intervals, against a brute-force reading over
integer instants: an interval is the set of instants ``start <= t < end``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fleetgraph.graph_model.intervals import (
    ColumnBound,
    Interval,
    TimeWindow,
    contains,
    cut,
    hull,
    overlap_bounds,
    overlaps,
    satisfies,
    step_index,
    valid_at,
)
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO

LOW, HIGH = -6, 6  # instants a test looks at; open sides reach past them
bound = st.one_of(st.none(), st.integers(LOW + 1, HIGH - 1))


@st.composite
def intervals(draw: st.DrawFn, nonempty: bool = False) -> Interval:
    start, end = draw(bound), draw(bound)
    if nonempty and start is not None and end is not None and start >= end:
        start, end = min(start, end), max(start, end) + 1
    return start, end


def instants(interval: Interval) -> set[int]:
    start, end = interval
    lo = LOW - 2 if start is None else start
    hi = HIGH + 2 if end is None else end
    return set(range(lo, hi))


@given(intervals(), st.integers(LOW, HIGH))
def test_contains_is_start_inclusive_end_exclusive(interval: Interval, t: int) -> None:
    assert contains(interval, t) == (t in instants(interval))
    assert valid_at(interval, t) == contains(interval, t)


@given(intervals(nonempty=True), intervals(nonempty=True))
def test_nonempty_intervals_overlap_when_they_share_an_instant(a: Interval, b: Interval) -> None:
    assert overlaps(a, b) == bool(instants(a) & instants(b))
    assert overlaps(a, b) == overlaps(b, a)


@given(st.integers(LOW, HIGH), intervals())
def test_an_empty_interval_overlaps_what_strictly_contains_it(t: int, b: Interval) -> None:
    start, end = b
    strictly = (start is None or start < t) and (end is None or t < end)
    assert overlaps((t, t), b) == strictly


def test_touching_intervals_do_not_overlap() -> None:
    assert not overlaps((1, 5), (5, 9))
    assert overlaps((1, 5), (4, 9))
    assert overlaps((None, None), (3, 4))


@given(intervals(nonempty=True), intervals(nonempty=True))
def test_cut_is_the_intersection(a: Interval, b: Interval) -> None:
    got = cut(a, b)
    if not overlaps(a, b):
        assert got is None
    else:
        assert got is not None
        assert instants(got) == instants(a) & instants(b)


@given(st.lists(intervals(nonempty=True), max_size=4), intervals(nonempty=True))
def test_hull_overlaps_whatever_overlaps_one_of_them(
    parts: list[Interval], other: Interval
) -> None:
    whole = hull(parts)
    if any(overlaps(p, other) for p in parts):
        assert overlaps(whole, other)


@given(intervals(), st.integers(LOW, HIGH))
def test_the_window_of_an_instant_overlaps_the_intervals_containing_it(
    interval: Interval, t: int
) -> None:
    assert TimeWindow.at(t).overlaps(*interval) == contains(interval, t)


@given(intervals(), intervals())
def test_a_window_overlaps_as_intervals_do(window: Interval, stored: Interval) -> None:
    assert TimeWindow.of(window).overlaps(*stored) == overlaps(stored, window)
    assert TimeWindow.of(window).interval == window


@given(intervals(), intervals())
def test_the_column_bounds_say_what_overlaps_says(window: Interval, stored: Interval) -> None:
    w = TimeWindow.of(window)
    assert satisfies(overlap_bounds(w), *stored) == w.overlaps(*stored)


def test_the_column_bounds_of_a_window() -> None:
    assert overlap_bounds(TimeWindow()) == []
    assert overlap_bounds(TimeWindow(3, 7)) == [
        ColumnBound(VALID_FROM, "<", 7),
        ColumnBound(VALID_TO, ">", 3),
    ]
    assert overlap_bounds(TimeWindow(None, 7)) == [(VALID_FROM, "<", 7)]
    assert ColumnBound(VALID_TO, ">", 3).holds(None)


@given(st.lists(st.integers(LOW, HIGH), unique=True).map(sorted), st.integers(LOW - 1, HIGH + 1))
def test_step_index_finds_the_step_containing_the_instant(starts: list[int], t: int) -> None:
    steps = [
        (s, starts[i + 1] if i + 1 < len(starts) else None) for i, s in enumerate(starts)
    ]
    holding = [i for i, step in enumerate(steps) if contains(step, t)]
    assert step_index(starts, t) == (holding[0] if holding else -1)
