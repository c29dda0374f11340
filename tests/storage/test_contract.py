"""What every GraphStore backend must do.

The suite runs once per backend (the ``store`` fixture in conftest.py is
parametrized over them); a new backend passes it unchanged before it ships.
"""

from __future__ import annotations

import itertools
import random
import time

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeRecord, EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.storage.base import Direction, GraphStore, StorageError, TimeWindow
from fleetgraph.storage.delegating import DelegatingStore

NOW = time.time_ns() // 1000
H = 3_600_000_000


def prov(event_id: str, t: int, source: str = "test:0") -> Provenance:
    return Provenance(event_id, source, t, "contract-test")


def node(node_id: str, t: int, **props: object) -> NodeUpsert:
    node_type = node_id.split(":", 1)[0]
    return NodeUpsert(node_type, node_id, dict(props), t, prov(f"e-{node_id}-{t}", t))


def edge(edge_type: str, a: str, b: str, t: int, **props: object) -> EdgeUpsert:
    return EdgeUpsert(edge_type, a, b, dict(props), t, prov(f"e-{a}-{b}-{t}", t))


def test_nodes_are_read_back_by_id_across_types(store: GraphStore) -> None:
    store.upsert_nodes([
        node("site:s1", NOW, region="west", capacity_kw=1000.0),
        node("cdu:s1-c1", NOW, status="ok"),
    ])
    got = store.get_nodes(["site:s1", "cdu:s1-c1", "rack:missing", "toaster:x1"])
    assert set(got) == {"site:s1", "cdu:s1-c1"}
    assert got["site:s1"].props == {"region": "west", "capacity_kw": 1000.0}
    assert got["cdu:s1-c1"].type == "cdu"


def test_newest_event_wins_per_property(store: GraphStore) -> None:
    store.upsert_nodes([node("cdu:c1", NOW + 2, status="fault")])
    store.upsert_nodes([node("cdu:c1", NOW + 1, status="ok", capacity_kw=250.0)])
    store.upsert_nodes([node("cdu:c1", NOW + 3, supply_temp_c=44.5)])
    props = store.get_nodes(["cdu:c1"])["cdu:c1"].props
    assert props == {"status": "fault", "capacity_kw": 250.0, "supply_temp_c": 44.5}


def test_provenance_keeps_the_first_and_the_latest_write(store: GraphStore) -> None:
    store.upsert_edges([edge("cooled_by", "rack:r1", "cdu:c1", NOW + 5, valid_to=NOW + 5)])
    store.upsert_edges([edge("cooled_by", "rack:r1", "cdu:c1", NOW, valid_from=NOW)])
    [record] = store.neighbours("cooled_by", ["rack:r1"], Direction.OUT)["rack:r1"]
    assert record.origin is not None
    assert record.origin.created_at == NOW
    assert record.origin.created_by == f"e-rack:r1-cdu:c1-{NOW}"
    assert record.origin.updated_at == NOW + 5
    assert record.origin.latest.event_id == f"e-rack:r1-cdu:c1-{NOW + 5}"
    assert record.origin.latest.event_time == NOW + 5
    assert record.origin.latest.writer == "contract-test"


def test_any_order_with_duplicates_gives_the_same_graph(store_factory) -> None:  # type: ignore[no-untyped-def]
    writes = [
        edge("cooled_by", "rack:r1", "cdu:c1", NOW, valid_from=NOW, valid_to=None),
        edge("cooled_by", "rack:r1", "cdu:c1", NOW + H, valid_to=NOW + H),
        edge("cooled_by", "rack:r1", "cdu:c2", NOW + H, valid_from=NOW + H, valid_to=None),
        edge("ran_on", "job:j1", "server:n1", NOW + 10, valid_from=NOW + 10, gpus=4),
        edge("ran_on", "job:j1", "server:n1", NOW + 20, valid_to=NOW + 20),
    ]
    answers = []
    rng = random.Random(3)
    for _ in range(4):
        shuffled = writes + rng.sample(writes, 3)
        rng.shuffle(shuffled)
        store = store_factory()
        for write in shuffled:
            store.upsert_edges([write])
        answers.append((
            store.neighbours("cooled_by", ["rack:r1"], Direction.OUT),
            store.neighbours("ran_on", ["server:n1"], Direction.IN),
        ))
    assert all(answer == answers[0] for answer in answers)
    cooled = answers[0][0]["rack:r1"]
    assert [(e.to_id, e.props.get("valid_from"), e.props.get("valid_to")) for e in cooled] == [
        ("cdu:c1", NOW, NOW + H),
        ("cdu:c2", NOW + H, None),
    ]


def test_reopening_an_interval_clears_its_end(store: GraphStore) -> None:
    store.upsert_edges([edge("cached_at", "artifact:a1", "site:s1", NOW, valid_from=NOW)])
    store.upsert_edges([edge("cached_at", "artifact:a1", "site:s1", NOW + 1, valid_to=NOW + 1)])
    store.upsert_edges([
        edge("cached_at", "artifact:a1", "site:s1", NOW + 2, valid_from=NOW + 2, valid_to=None)
    ])
    [record] = store.neighbours("cached_at", ["artifact:a1"], Direction.OUT)["artifact:a1"]
    assert record.props == {"valid_from": NOW + 2}


def test_neighbours_of_many_nodes_in_both_directions(store: GraphStore) -> None:
    store.upsert_edges([
        edge("in_rack", f"server:n{i}", f"rack:r{i % 3}", NOW, valid_from=NOW) for i in range(30)
    ])
    out = store.neighbours("in_rack", ["server:n4", "server:n5", "server:none"], Direction.OUT)
    assert {k: [e.to_id for e in v] for k, v in out.items()} == {
        "server:n4": ["rack:r1"], "server:n5": ["rack:r2"], "server:none": [],
    }
    inn = store.neighbours("in_rack", ["rack:r0", "rack:r1"], Direction.IN)
    assert [e.from_id for e in inn["rack:r0"]] == sorted(f"server:n{i}" for i in range(0, 30, 3))
    assert len(inn["rack:r1"]) == 10


def test_large_batches_are_read_whole(store: GraphStore) -> None:
    ids = [f"server:n{i:05d}" for i in range(1500)]
    store.upsert_edges([edge("in_rack", s, "rack:big", NOW, valid_from=NOW) for s in ids])
    store.upsert_nodes([node(s, NOW, status="ok") for s in ids])
    assert len(store.get_nodes(ids)) == 1500
    assert len(store.neighbours("in_rack", ids, Direction.OUT)) == 1500
    assert [e.from_id for e in store.neighbours("in_rack", ["rack:big"], Direction.IN)[
        "rack:big"]] == ids


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (TimeWindow(NOW - 2 * H, NOW - H), []),  # before the first interval
        (TimeWindow(NOW, NOW + 1), ["job:a"]),
        (TimeWindow(NOW + H, NOW + 2 * H), ["job:b"]),  # job:a ended exactly at NOW + H
        (TimeWindow(NOW + 5 * H, None), ["job:b"]),  # job:b is still running
        (TimeWindow(None, None), ["job:a", "job:b"]),
    ],
)
def test_window_keeps_edges_whose_interval_overlaps(
    store: GraphStore, window: TimeWindow, expected: list[str]
) -> None:
    store.upsert_edges([
        edge("ran_on", "job:a", "server:n1", NOW, valid_from=NOW, valid_to=NOW + H),
        edge("ran_on", "job:b", "server:n1", NOW, valid_from=NOW + H),
        edge("owned_by", "job:a", "application:x", NOW),
    ])
    got = store.neighbours("ran_on", ["server:n1"], Direction.IN, window)["server:n1"]
    assert [e.from_id for e in got] == expected
    # edge types without intervals ignore windows
    assert store.neighbours("owned_by", ["job:a"], Direction.OUT, window)["job:a"][0].to_id == (
        "application:x"
    )


def test_scan_pages_through_every_node_of_a_type_once(store: GraphStore) -> None:
    ids = [f"rack:s1-r{i:02d}" for i in range(25)]
    store.upsert_nodes([node(r, NOW, status="ok") for r in reversed(ids)])
    seen: list[str] = []
    after = None
    for _ in itertools.count():
        page = store.scan_nodes("rack", after, 10)
        seen += [r.id for r in page.records]
        after = page.next_after
        if after is None:
            break
    # the order is the backend's (id order embedded, token order on Cassandra)
    assert sorted(seen) == ids
    assert len(seen) == len(ids)
    # the same pages through scan_pages, and their ids through node_ids
    pages = list(store.scan_pages("rack", 10))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [r.id for p in pages for r in p] == seen
    assert store.node_ids("rack", 7) == seen
    assert store.node_ids("cdu") == []


def test_expired_records_are_hidden_and_removed(store: GraphStore) -> None:
    month = 31 * 24 * H
    store.upsert_edges([
        edge("cached_at", "artifact:old", "site:s1", NOW - month, valid_from=NOW - month),
        edge("cached_at", "artifact:new", "site:s1", NOW, valid_from=NOW),
        edge("produced", "job:j1", "artifact:old", NOW - month, at=NOW - month),
    ])
    got = store.neighbours("cached_at", ["site:s1"], Direction.IN)["site:s1"]
    assert [e.from_id for e in got] == ["artifact:new"]
    store.expire(NOW)
    assert [e.from_id for e in store.neighbours("cached_at", ["site:s1"], Direction.IN)[
        "site:s1"]] == ["artifact:new"]
    # types without a TTL keep their history
    assert store.neighbours("produced", ["job:j1"], Direction.OUT)["job:j1"][0].to_id == (
        "artifact:old"
    )


# --- history: the writes of a type with a live TTL, for reads past it -----------
DAY = 24 * H
YEAR = TimeWindow(NOW - 365 * DAY, NOW + 1)


def spans(records: list[EdgeRecord]) -> list[tuple[str, str, object, object]]:
    return [(e.from_id, e.to_id, e.props.get("valid_from"), e.props.get("valid_to"))
            for e in records]


def test_history_answers_windows_past_the_live_ttl(store: GraphStore) -> None:
    old, idle = NOW - 90 * DAY, NOW - 40 * DAY
    store.upsert_edges([
        edge("cached_at", "dataset:d1", "site:s1", old, valid_from=old, valid_to=None, tier=1),
        edge("cached_at", "dataset:d1", "site:s1", old + DAY, valid_to=old + DAY),
        edge("cached_at", "dataset:d1", "site:s2", idle, valid_from=idle, valid_to=None, tier=0),
        edge("cached_at", "dataset:d1", "site:s2", idle + DAY, last_access=idle + DAY, hits=3),
    ])
    # the live namespace has forgotten both ...
    assert store.neighbours("cached_at", ["dataset:d1"], Direction.OUT)["dataset:d1"] == []
    # ... history has not: the idle replica is closed at its expiry (last write + 30 days)
    found = store.neighbours("cached_at", ["dataset:d1"], Direction.OUT, YEAR)["dataset:d1"]
    assert spans(found) == [
        ("dataset:d1", "site:s1", old, old + DAY),
        ("dataset:d1", "site:s2", idle, idle + 31 * DAY),
    ]
    assert found[1].props["tier"] == 0 and found[1].props["hits"] == 3
    assert found[0].origin is not None and found[0].origin.created_at == old
    assert found[0].origin.latest.event_id == f"e-dataset:d1-site:s1-{old + DAY}"
    # the mirror side reads the same history
    mirror = store.neighbours("cached_at", ["site:s2"], Direction.IN, YEAR)["site:s2"]
    assert spans(mirror) == [("dataset:d1", "site:s2", idle, idle + 31 * DAY)]
    # after its expiry the idle replica is in no window
    after = TimeWindow(idle + 31 * DAY, NOW)
    assert store.neighbours("cached_at", ["dataset:d1"], Direction.OUT, after)["dataset:d1"] == []


def test_an_old_window_sees_its_intervals_as_known_now(store: GraphStore) -> None:
    start = NOW - 60 * DAY
    store.upsert_edges([
        edge("cached_at", "artifact:a1", "site:s1", start, valid_from=start, valid_to=None),
        edge("cached_at", "artifact:a1", "site:s1", start + 10 * DAY, last_access=start + 10 * DAY),
        edge("cached_at", "artifact:a1", "site:s1", start + 20 * DAY, valid_to=start + 20 * DAY),
        edge("cached_at", "artifact:a2", "site:s1", start + 30 * DAY, valid_to=start + 30 * DAY),
    ])
    # the eviction written after the window still ends the interval; an eviction
    # without a replication reaches back over a window it may have covered
    early = TimeWindow(start - DAY, start + DAY)
    found = store.neighbours("cached_at", ["site:s1"], Direction.IN, early)["site:s1"]
    assert spans(found) == [
        ("artifact:a1", "site:s1", start, start + 20 * DAY),
        ("artifact:a2", "site:s1", None, start + 30 * DAY),
    ]
    assert found[0].props["last_access"] == start + 10 * DAY


def test_a_replication_after_an_eviction_opens_a_new_interval(store: GraphStore) -> None:
    store.upsert_edges([
        edge("cached_at", "artifact:a1", "site:s1", NOW - 3 * H, valid_from=NOW - 3 * H, tier=0),
        edge("cached_at", "artifact:a1", "site:s1", NOW - 2 * H, valid_to=NOW - 2 * H),
        edge("cached_at", "artifact:a1", "site:s1", NOW - H, valid_from=NOW - H, valid_to=None,
             tier=1),
    ])
    # live: the one edge of the pair holds the newest interval
    [live] = store.neighbours("cached_at", ["artifact:a1"], Direction.OUT)["artifact:a1"]
    assert live.props == {"valid_from": NOW - H, "tier": 1}
    both = store.neighbours("cached_at", ["artifact:a1"], Direction.OUT, YEAR)["artifact:a1"]
    assert spans(both) == [
        ("artifact:a1", "site:s1", NOW - 3 * H, NOW - 2 * H),
        ("artifact:a1", "site:s1", NOW - H, None),
    ]
    assert [e.props["tier"] for e in both] == [0, 1]
    first = TimeWindow(NOW - 5 * H // 2, NOW - 3 * H // 2)
    assert spans(store.neighbours("cached_at", ["artifact:a1"], Direction.OUT, first)[
        "artifact:a1"]) == [("artifact:a1", "site:s1", NOW - 3 * H, NOW - 2 * H)]


def test_an_access_or_an_eviction_without_a_replication(store: GraphStore) -> None:
    store.upsert_edges([
        edge("cached_at", "artifact:a1", "site:s1", NOW - 5 * H, last_access=NOW - 5 * H, hits=2),
        edge("cached_at", "artifact:a2", "site:s1", NOW - 4 * H, valid_to=NOW - 4 * H),
    ])
    found = store.neighbours("cached_at", ["site:s1"], Direction.IN, YEAR)["site:s1"]
    # the access proves the replica was there from then on; the eviction ends an
    # interval whose start is unknown
    assert spans(found) == [
        ("artifact:a1", "site:s1", NOW - 5 * H, None),
        ("artifact:a2", "site:s1", None, NOW - 4 * H),
    ]
    before = TimeWindow(NOW - 10 * H, NOW - 6 * H)
    assert [e.from_id for e in store.neighbours("cached_at", ["site:s1"], Direction.IN, before)[
        "site:s1"]] == ["artifact:a2"]


# --- the schema's lifecycle -----------------------------------------------------
def test_init_schema_is_idempotent_on_a_store_that_has_it(store: GraphStore) -> None:
    assert store.init_schema() == []
    store.upsert_nodes([node("cdu:c1", NOW, status="ok")])
    assert store.init_schema() == []
    assert set(store.get_nodes(["cdu:c1"])) == {"cdu:c1"}  # the data stays


def test_count_gives_the_rows_of_one_namespace(store: GraphStore) -> None:
    store.upsert_nodes([node("cdu:c1", NOW, status="ok"), node("cdu:c2", NOW, status="ok")])
    store.upsert_nodes([node("cdu:c1", NOW + 1, status="fault")])  # the same node again
    store.upsert_edges([edge("cooled_by", f"rack:r{i}", "cdu:c1", NOW, valid_from=NOW)
                        for i in range(3)])
    assert store.count("node_cdu") == 2
    assert store.count("edge_cooled_by") == 3
    assert store.count("node_site") == 0
    with pytest.raises(StorageError, match="no namespace"):
        store.count("node_toaster")
    with pytest.raises(StorageError, match="no namespace"):
        store.count("cdu")


def test_describe_names_one_namespace_per_node_and_edge_type(store: GraphStore) -> None:
    layout = store.describe()
    expected = {f"node_{t}" for t in FLEET.nodes} | {f"edge_{t}" for t in FLEET.edges}
    assert len(layout.namespaces) == len(expected)
    assert {e for e in expected if any(n.endswith(e) for n in layout.namespaces)} == expected
    assert all(any(n in line for line in layout.lines) for n in layout.namespaces)
    assert layout.summary


def test_a_delegating_store_forwards_the_schema_lifecycle(store: GraphStore) -> None:
    store.upsert_nodes([node("cdu:c1", NOW, status="ok")])
    seen: list[str] = []

    class Seeing(DelegatingStore):
        def before(self, method: str, *details: object) -> None:
            seen.append(method)

    proxy = Seeing(store)
    assert proxy.init_schema() == []
    assert proxy.count("node_cdu") == 1
    assert proxy.describe().namespaces == store.describe().namespaces
    assert seen == ["init_schema", "count", "describe"]
