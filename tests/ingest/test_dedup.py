"""Dedup must store to the same graph as the updates it collapses, in both modes;
the leading edge emits a key's first update at once and at most one more per window."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
from fleetgraph.ingest.stages.dedup import DEDUP_MODES, DedupBuffer, DedupMode
from fleetgraph.storage.embedded import SQLiteGraphStore

T0 = 1_763_000_000_000_000


def _upsert(kind: int, key: int, t: int, values: dict[str, object], n: int) -> Upsert:
    provenance = Provenance(f"e{n}", f"log:{n}", T0 + t, "test")
    if kind == 0:
        return NodeUpsert("cdu", f"cdu:c{key}", values, T0 + t, provenance)
    return EdgeUpsert("cooled_by", f"rack:r{key}", "cdu:c0", values, T0 + t, provenance)


node_values = st.fixed_dictionaries({}, optional={
    "status": st.sampled_from(["ok", "fault", None]),
    "capacity_kw": st.one_of(st.none(), st.floats(0, 100)),
    "supply_temp_c": st.one_of(st.none(), st.floats(0, 100)),
})
edge_values = st.fixed_dictionaries({}, optional={
    "valid_from": st.one_of(st.none(), st.integers(0, 50)),
    "valid_to": st.one_of(st.none(), st.integers(0, 50)),
})
updates = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 2), st.integers(0, 40), node_values, edge_values),
    max_size=40,
)


def _build(raw: list[tuple[int, int, int, dict[str, object], dict[str, object]]]) -> list[Upsert]:
    """Fresh upserts (the buffer merges into those it owns, props included)."""
    return [
        _upsert(kind, key, t, dict(nv if kind == 0 else ev), n)
        for n, (kind, key, t, nv, ev) in enumerate(raw)
    ]


def _stored(batches: list[list[Upsert]]) -> list[tuple[str, tuple[object, ...]]]:
    store = SQLiteGraphStore(FLEET)
    for batch in batches:
        store.upsert_nodes([u for u in batch if isinstance(u, NodeUpsert)])
        store.upsert_edges([u for u in batch if isinstance(u, EdgeUpsert)])
    return list(store.dump())


@settings(max_examples=150, deadline=None)
@given(updates, st.integers(0, 30), st.integers(1, 5), st.sampled_from(DEDUP_MODES))
def test_dedup_stores_the_same_graph_as_every_update(
    raw: list[tuple[int, int, int, dict[str, object], dict[str, object]]],
    window: int,
    max_entries: int,
    mode: DedupMode,
) -> None:
    upserts = _build(raw)
    direct = _stored([[u] for u in _build(raw)])
    buffer = DedupBuffer(window_us=window, max_entries=max_entries, mode=mode)
    flushed: list[list[Upsert]] = []
    clock = 0
    for upsert in upserts:
        clock = max(clock, upsert.ts)
        flushed.append(buffer.add([upsert], clock))
    flushed.append(buffer.drain())
    assert _stored(flushed) == direct
    assert buffer.taken_in == len(upserts)
    assert buffer.taken_in - buffer.collapsed == sum(len(b) for b in flushed)


def test_updates_within_the_window_collapse_and_are_counted() -> None:
    buffer = DedupBuffer(window_us=10, mode="trailing")
    p = Provenance("e", "s", T0, "t")
    due = buffer.add([NodeUpsert("cdu", "cdu:c1", {"supply_temp_c": 40.0 + i}, T0 + i, p)
                      for i in range(5)], T0 + 4)
    assert due == []
    assert buffer.collapsed == 4
    [merged] = buffer.add([], T0 + 20)
    assert isinstance(merged, NodeUpsert)
    assert merged.props == {"supply_temp_c": 44.0}
    assert merged.created == (T0, "e")


def test_the_buffer_hands_back_what_is_due_as_it_takes_updates_in() -> None:
    """DedupBuffer's contract (the pipeline writes what ``add`` returns): the entries
    whose window has passed at ``now``, and the oldest beyond ``max_entries``."""
    p = Provenance("e", "s", T0, "t")
    buffer = DedupBuffer(window_us=10, max_entries=2, mode="trailing")
    assert buffer.add([NodeUpsert("cdu", "cdu:c1", {}, T0, p)], T0) == []
    assert buffer.add([NodeUpsert("cdu", "cdu:c2", {}, T0, p)], T0 + 5) == []
    [full] = buffer.add([NodeUpsert("cdu", "cdu:c3", {}, T0, p)], T0 + 6)
    assert full.key == ("node", "cdu", "cdu:c1")
    [late] = buffer.add([], T0 + 15)
    assert late.key == ("node", "cdu", "cdu:c2")
    assert [u.key for u in buffer.drain()] == [("node", "cdu", "cdu:c3")]


def _run(buffer: DedupBuffer, upserts: list[Upsert]) -> list[list[Upsert]]:
    """What the buffer hands back at each update (the clock: the newest event time),
    then at the end of the run."""
    handed: list[list[Upsert]] = []
    clock = 0
    for upsert in upserts:
        clock = max(clock, upsert.ts)
        handed.append(buffer.add([upsert], clock))
    handed.append(buffer.drain())
    return handed


def _windows(upserts: list[Upsert], window: int
             ) -> tuple[list[Counter[tuple[str, ...]]], list[int]]:
    """An independent account of the windows (no max_entries): at each step, the keys
    whose window closes then, with how many updates it took; and for each update
    whether it opened its key's window (1) or not (0)."""
    open_since: dict[tuple[str, ...], tuple[int, int]] = {}  # key -> (opened at, updates)
    closing: list[Counter[tuple[str, ...]]] = []
    opened: list[int] = []
    clock = 0
    for upsert in upserts:
        clock = max(clock, upsert.ts)
        first, count = open_since.get(upsert.key, (clock, 0))
        opened.append(int(count == 0))
        open_since[upsert.key] = (first, count + 1)
        closed = Counter({key: n for key, (t, n) in open_since.items() if t <= clock - window})
        for key in closed:
            del open_since[key]
        closing.append(closed)
    closing.append(Counter({key: n for key, (_, n) in open_since.items()}))
    return closing, opened


@settings(max_examples=100, deadline=None)
@given(updates, st.integers(0, 30), st.integers(1, 5))
def test_leading_and_trailing_store_what_trailing_alone_stores(
    raw: list[tuple[int, int, int, dict[str, object], dict[str, object]]],
    window: int,
    max_entries: int,
) -> None:
    leading = _run(DedupBuffer(window, max_entries, mode="leading"), _build(raw))
    trailing = _run(DedupBuffer(window, max_entries, mode="trailing"), _build(raw))
    assert _stored(leading) == _stored(trailing)
    # the same windows in both modes: one write each in trailing, one or two in leading
    per_key = Counter(u.key for batch in leading for u in batch)
    once = Counter(u.key for batch in trailing for u in batch)
    assert all(once[key] <= n <= 2 * once[key] for key, n in per_key.items())
    assert set(per_key) == set(once)


@settings(max_examples=150, deadline=None)
@given(updates, st.integers(0, 30))
def test_the_leading_edge_is_emitted_at_once_and_the_rest_at_the_window_end(
    raw: list[tuple[int, int, int, dict[str, object], dict[str, object]]],
    window: int,
) -> None:
    upserts = _build(raw)
    handed = _run(DedupBuffer(window, 10**6, mode="leading"), _build(raw))
    closing, opened = _windows(upserts, window)
    for step, batch in enumerate(handed):
        emitted = Counter(u.key for u in batch)
        expected = Counter({key: 1 for key, n in closing[step].items() if n > 1})
        if step < len(upserts) and opened[step]:
            expected[upserts[step].key] += 1  # the update that opened the window, at once
        assert emitted == expected, f"step {step}"


def test_a_key_updated_once_is_written_once_and_at_once() -> None:
    p = Provenance("e", "s", T0, "t")
    buffer = DedupBuffer(window_us=10)
    first = NodeUpsert("cdu", "cdu:c1", {"supply_temp_c": 40.0}, T0, p)
    assert buffer.add([first], T0) == [first]
    assert buffer.add([], T0 + 20) == [] and len(buffer) == 0
    assert buffer.drain() == []


def test_the_updates_after_the_leading_edge_are_merged_into_one() -> None:
    buffer = DedupBuffer(window_us=10)
    p = Provenance("e", "s", T0, "t")
    updates = [NodeUpsert("cdu", "cdu:c1", {"supply_temp_c": 40.0 + i}, T0 + i, p)
               for i in range(5)]
    [leading] = buffer.add(updates[:1], T0)
    assert leading.props == {"supply_temp_c": 40.0}
    assert buffer.add(updates[1:], T0 + 4) == []
    assert buffer.collapsed == 3  # the first after the leading edge starts the trailing one
    [trailing] = buffer.add([], T0 + 10)
    assert trailing.props == {"supply_temp_c": 44.0}
    assert trailing.created == (T0 + 1, "e")
    # the window has closed: the next update opens another, at once
    later = NodeUpsert("cdu", "cdu:c1", {"supply_temp_c": 50.0}, T0 + 11, p)
    assert buffer.add([later], T0 + 11) == [later]


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="leading, trailing"):
        DedupBuffer(window_us=10, mode="both")  # type: ignore[arg-type]
