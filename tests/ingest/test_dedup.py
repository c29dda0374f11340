"""Dedup must store to the same graph as the updates it collapses."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
from fleetgraph.ingest.stages.dedup import DedupBuffer
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
    return [
        _upsert(kind, key, t, nv if kind == 0 else ev, n)
        for n, (kind, key, t, nv, ev) in enumerate(raw)
    ]


def _stored(batches: list[list[Upsert]]) -> list[tuple[str, tuple[object, ...]]]:
    store = SQLiteGraphStore(FLEET)
    for batch in batches:
        store.upsert_nodes([u for u in batch if isinstance(u, NodeUpsert)])
        store.upsert_edges([u for u in batch if isinstance(u, EdgeUpsert)])
    return list(store.dump())


@settings(max_examples=150, deadline=None)
@given(updates, st.integers(0, 30), st.integers(1, 5))
def test_dedup_stores_the_same_graph_as_every_update(
    raw: list[tuple[int, int, int, dict[str, object], dict[str, object]]],
    window: int,
    max_entries: int,
) -> None:
    upserts = _build(raw)
    direct = _stored([[u] for u in _build(raw)])
    buffer = DedupBuffer(window_us=window, max_entries=max_entries)
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
    buffer = DedupBuffer(window_us=10)
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
    buffer = DedupBuffer(window_us=10, max_entries=2)
    assert buffer.add([NodeUpsert("cdu", "cdu:c1", {}, T0, p)], T0) == []
    assert buffer.add([NodeUpsert("cdu", "cdu:c2", {}, T0, p)], T0 + 5) == []
    [full] = buffer.add([NodeUpsert("cdu", "cdu:c3", {}, T0, p)], T0 + 6)
    assert full.key == ("node", "cdu", "cdu:c1")
    [late] = buffer.add([], T0 + 15)
    assert late.key == ("node", "cdu", "cdu:c2")
    assert [u.key for u in buffer.drain()] == [("node", "cdu", "cdu:c3")]
