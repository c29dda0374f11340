"""The projected reads (``neighbour_ids``, ``node_values``) give what the whole-record
reads give, projected: on every backend, on random graphs with expired records, ids
not found, unknown types and first writes on both sides of ``recorded_by``."""

from __future__ import annotations

import random
import time

import pytest

from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.storage.base import Direction, GraphStore

NOW = time.time_ns() // 1000
H = 3_600_000_000
MONTH = 31 * 24 * H  # past cached_at's live TTL


def prov(event_id: str, t: int) -> Provenance:
    return Provenance(event_id, "test:0", t, "projected-test")


def random_graph(store: GraphStore, seed: int) -> tuple[list[str], list[str], list[str]]:
    """Jobs reading and producing artifacts, replicas at sites (some expired), sites
    with and without a jurisdiction; the job, artifact and site ids (with ids that
    name nothing)."""
    rng = random.Random(seed)
    jobs = [f"job:j{i}" for i in range(40)]
    artifacts = [f"artifact:a{i}" for i in range(30)]
    sites = [f"site:s{i}" for i in range(6)]
    nodes = [NodeUpsert("site", s, {"jurisdiction": "de"} if i % 2 else {"region": "west"},
                        NOW, prov(f"n-{s}", NOW)) for i, s in enumerate(sites)]
    nodes += [NodeUpsert("job", j, {"site_id": rng.choice(sites)} if rng.random() < 0.7
                         else {"kind": "training"}, NOW, prov(f"n-{j}", NOW)) for j in jobs]
    edges = []
    for n, job in enumerate(jobs):
        for artifact in rng.sample(artifacts, rng.randint(0, 4)):
            t = NOW - rng.randint(0, 10) * H
            edges.append(EdgeUpsert("read", job, artifact, {"at": t}, t, prov(f"r-{n}-{t}", t)))
        for artifact in rng.sample(artifacts, rng.randint(0, 2)):
            t = NOW - rng.randint(0, 10) * H
            edges.append(EdgeUpsert("produced", job, artifact, {"at": t}, t,
                                    prov(f"p-{n}-{t}", t)))
    for n, artifact in enumerate(artifacts):
        for site in rng.sample(sites, rng.randint(0, 3)):
            t = NOW - (MONTH if rng.random() < 0.3 else rng.randint(0, 5) * H)
            edges.append(EdgeUpsert("cached_at", artifact, site, {"valid_from": t, "tier": 0},
                                    t, prov(f"c-{n}-{site}", t)))
    store.upsert_nodes(nodes)
    store.upsert_edges(edges)
    unknown = ["job:none", "toaster:x"]
    return jobs + unknown, [*artifacts, "artifact:none"], [*sites, "site:none"]


def far_ids(store: GraphStore, edge_type: str, ids: list[str], direction: Direction,
            recorded_by: int | None = None) -> dict[str, list[str]]:
    """The projection of the whole records (the reference)."""
    return {near: [e.other(near) for e in edges
                   if recorded_by is None or e.origin is None
                   or e.origin.created_at <= recorded_by]
            for near, edges in store.neighbours(edge_type, ids, direction).items()}


@pytest.mark.parametrize("seed", [1, 2])
def test_neighbour_ids_are_the_neighbours_ids(store: GraphStore, seed: int) -> None:
    jobs, artifacts, sites = random_graph(store, seed)
    cases = [("read", jobs[:25], Direction.OUT), ("read", artifacts, Direction.IN),
             ("produced", jobs, Direction.OUT), ("cached_at", artifacts, Direction.OUT),
             ("cached_at", sites, Direction.IN)]
    for edge_type, ids, direction in cases:
        for recorded_by in (None, NOW - 5 * H, NOW - 100 * H):
            got = store.neighbour_ids(edge_type, ids, direction, recorded_by=recorded_by)
            assert got == far_ids(store, edge_type, ids, direction, recorded_by), (
                edge_type, direction, recorded_by)
            assert list(got) == list(dict.fromkeys(ids))
    assert any(store.neighbour_ids("read", artifacts, Direction.IN).values())
    assert store.neighbour_ids("read", [], Direction.IN) == {}


def test_neighbour_ids_leave_out_expired_records(store: GraphStore) -> None:
    store.upsert_edges([
        EdgeUpsert("cached_at", "artifact:old", "site:s1", {"valid_from": NOW - MONTH},
                   NOW - MONTH, prov("old", NOW - MONTH)),
        EdgeUpsert("cached_at", "artifact:new", "site:s1", {"valid_from": NOW},
                   NOW, prov("new", NOW)),
    ])
    assert store.neighbour_ids("cached_at", ["site:s1"], Direction.IN) == {
        "site:s1": ["artifact:new"]}


@pytest.mark.parametrize("seed", [1, 2])
def test_node_values_are_the_nodes_property(store: GraphStore, seed: int) -> None:
    jobs, artifacts, sites = random_graph(store, seed)
    ids = jobs + sites + artifacts
    for prop in ("site_id", "jurisdiction", "kind", "no_such_prop"):
        got = store.node_values(ids, prop)
        expected = {i: r.props.get(prop) for i, r in store.get_nodes(ids).items()}
        assert got == expected, prop
    assert "job:none" not in store.node_values(jobs, "site_id")
    assert any(store.node_values(jobs, "site_id").values())
    assert store.node_values([], "site_id") == {}


def replica_history(store: GraphStore, seed: int) -> tuple[list[str], list[str]]:
    """Replicas written over three months (past the live TTL): replications, accesses,
    evictions with and without a start, in a random order; jobs' runs on servers."""
    rng = random.Random(seed)
    artifacts = [f"artifact:h{i}" for i in range(12)]
    sites = [f"site:s{i}" for i in range(4)]
    edges = []
    for n in range(150):
        artifact, site = rng.choice(artifacts), rng.choice(sites)
        t = NOW - rng.randint(0, 90 * 24) * H
        kind = rng.choice(["replicate", "access", "evict", "evict_unknown_start"])
        props: dict[str, object] = {
            "replicate": {"valid_from": t, "tier": rng.randint(0, 2)},
            "access": {"last_access": t, "hits": rng.randint(0, 9)},
            "evict": {"valid_from": t - rng.randint(1, 50) * H, "valid_to": t},
            "evict_unknown_start": {"valid_to": t},
        }[kind]
        edges.append(EdgeUpsert("cached_at", artifact, site, props, t, prov(f"h-{n}", t)))
    for n in range(30):
        t = NOW - rng.randint(0, 48) * H
        props = {"valid_from": t} if n % 3 else {"valid_from": t, "valid_to": t + 2 * H}
        edges.append(EdgeUpsert("ran_on", f"job:r{n % 9}", f"server:v{n % 4}", props, t,
                                prov(f"run-{n}", t)))
    rng.shuffle(edges)
    store.upsert_edges(edges)
    return [*artifacts, "artifact:none"], sites


@pytest.mark.parametrize("seed", [3, 4])
def test_neighbour_ids_in_a_window_are_the_intervals_ids(store: GraphStore, seed: int) -> None:
    from fleetgraph.storage.base import TimeWindow

    artifacts, sites = replica_history(store, seed)
    jobs = [f"job:r{n}" for n in range(9)]
    windows = [None, TimeWindow(), TimeWindow(NOW - 40 * 24 * H, None),
               TimeWindow(None, NOW - 60 * 24 * H), TimeWindow(NOW - 24 * H, NOW)]
    cases = [("cached_at", artifacts, Direction.OUT), ("cached_at", sites, Direction.IN),
             ("ran_on", jobs, Direction.OUT)]
    for edge_type, ids, direction in cases:
        for window in windows:
            whole = store.neighbours(edge_type, ids, direction, window)
            expected = {near: list(dict.fromkeys(e.other(near) for e in edges))
                        for near, edges in whole.items()}
            got = store.neighbour_ids(edge_type, ids, direction, window=window)
            assert got == expected, (edge_type, direction, window)
    # history holds pairs the live namespace has expired
    every = store.neighbour_ids("cached_at", artifacts, Direction.OUT, window=TimeWindow())
    live = store.neighbour_ids("cached_at", artifacts, Direction.OUT)
    assert sum(map(len, every.values())) > sum(map(len, live.values()))
