"""Cassandra's reads of many partitions (storage/cassandra/partition_reads.py): grouped
into multi-partition SELECTs (one node, or every node a replica) or one SELECT per
partition (a larger cluster), they answer what the embedded store answers on the same
events: nodes, projected values, windowed and unwindowed adjacency on bucketed sides,
through the time index and through history, with chunks small enough that every
read spans several SELECTs."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from fleetgraph.storage.cassandra import partition_reads, time_reads
from fleetgraph.storage.embedded import SQLiteGraphStore

pytestmark = pytest.mark.integration

H = 3_600_000_000
DAY = 24 * H
NOW = time.time_ns() // 1000
JOBS = [f"job:j{i}" for i in range(30)]
SERVERS = [f"server:s{i}" for i in range(10)]
RACKS = [f"rack:r{i}" for i in range(3)]
SITES = [f"site:x{i}" for i in range(4)]
ARTIFACTS = [f"artifact:a{i}" for i in range(16)]
FAULTS = [f"fault:f{i}" for i in range(12)]
UNKNOWN = ["job:none", "server:none", "toaster:x"]


def prov(event_id: str, t: int) -> Provenance:
    return Provenance(event_id, "test:0", t, "grouped-reads-test")


def interval_events(rng: random.Random, edge_type: str, pairs: list[tuple[str, str]],
                    tag: str, extra: dict[str, Any] | None = None) -> list[EdgeUpsert]:
    """Opens, closes (some far from their open, some never opened), reopenings,
    over five days."""
    events = []
    for n, (a, b) in enumerate(pairs):
        for k in range(rng.randint(1, 3)):
            t = NOW - rng.randint(0, 5 * DAY)
            roll = rng.random()
            if roll < 0.45:
                props: dict[str, Any] = {"valid_from": t, "valid_to": None}
            elif roll < 0.8:
                props = {"valid_to": t + rng.randint(0, DAY)}
            else:
                props = {"valid_from": t, "valid_to": t + rng.randint(H, 2 * DAY)}
            props.update(extra or {})
            events.append(EdgeUpsert(edge_type, a, b, props, t, prov(f"{tag}-{n}-{k}", t)))
    return events


def fleet_events(seed: int) -> tuple[list[NodeUpsert], list[EdgeUpsert]]:
    rng = random.Random(seed)
    nodes = [NodeUpsert("site", s, {"jurisdiction": "de"} if i % 2 else {"region": "west"},
                        NOW, prov(f"n-{s}", NOW)) for i, s in enumerate(SITES)]
    nodes += [NodeUpsert("job", j, {"site_id": rng.choice(SITES)}, NOW - rng.randint(0, DAY),
                         prov(f"n-{j}", NOW)) for j in JOBS if rng.random() < 0.8]
    busy = SERVERS[0]  # many jobs: past the time index's whole-partition threshold
    ran = [(j, busy) for j in JOBS[:20]]
    ran += [(j, s) for j in JOBS for s in rng.sample(SERVERS[1:], rng.randint(0, 3))]
    edges = interval_events(rng, "ran_on", ran, "ran", {"gpus": 8})
    edges += interval_events(rng, "in_rack", [(s, rng.choice(RACKS)) for s in SERVERS], "rack")
    edges += interval_events(
        rng, "had_fault", [(rng.choice(SERVERS + RACKS), f) for f in FAULTS], "fault")
    replicas = [(a, s) for a in ARTIFACTS for s in rng.sample(SITES, rng.randint(0, 3))]
    edges += interval_events(rng, "cached_at", replicas, "cache", {"tier": 0})
    for n, job in enumerate(JOBS):
        for artifact in rng.sample(ARTIFACTS, rng.randint(0, 5)):
            t = NOW - rng.randint(0, 3 * DAY)
            edges.append(EdgeUpsert("read", job, artifact, {"at": t}, t, prov(f"r-{n}-{t}", t)))
    rng.shuffle(edges)
    return nodes, edges


def windows(rng: random.Random) -> Iterator[TimeWindow | None]:
    yield None
    yield TimeWindow()
    yield TimeWindow(end=NOW - 2 * DAY)
    yield TimeWindow.at(NOW - DAY)
    for _ in range(4):
        a, b = sorted(rng.randint(NOW - 6 * DAY, NOW + DAY) for _ in range(2))
        yield TimeWindow(a, b)


READS = [  # (edge type, direction, ids)
    ("ran_on", Direction.OUT, JOBS + UNKNOWN[:1]),
    ("ran_on", Direction.IN, SERVERS + UNKNOWN[1:2]),
    ("in_rack", Direction.IN, RACKS),
    ("had_fault", Direction.OUT, SERVERS + RACKS),
    ("had_fault", Direction.IN, FAULTS),
    ("cached_at", Direction.OUT, ARTIFACTS),
    ("cached_at", Direction.IN, SITES),
]


def answers(store: GraphStore, rng: random.Random) -> list[Any]:
    got: list[Any] = [store.get_nodes(JOBS + SITES + UNKNOWN),
                      store.node_values(JOBS + UNKNOWN, "site_id"),
                      store.node_values(SITES, "jurisdiction")]
    for direction, ids in ((Direction.IN, ARTIFACTS), (Direction.OUT, JOBS)):
        got.append(store.neighbour_ids("read", ids, direction))
        got.append(store.neighbour_ids("read", ids, direction, recorded_by=NOW - DAY))
    for window in windows(rng):
        for edge_type, direction, ids in READS:
            got.append((edge_type, direction, window,
                        store.neighbours(edge_type, ids, direction, window)))
    return got


@pytest.mark.parametrize("seed", [1, 2])
def test_grouped_and_single_partition_reads_answer_as_the_embedded_store(
    tmp_path: Path, cassandra_graphs: Any, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # small chunks: every read spans several SELECTs, several ids share one, an id's
    # candidates span several key reads, and one server is read whole
    monkeypatch.setattr(partition_reads, "PARTITIONS_PER_SELECT", 5)
    monkeypatch.setattr(time_reads, "PARTITIONS_PER_SELECT", 5)
    monkeypatch.setattr(time_reads, "KEYS_PER_SELECT", 3)
    monkeypatch.setattr(time_reads, "WHOLE_PARTITION_AFTER", 8)
    nodes, edges = fleet_events(seed)
    embedded = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite", clock=lambda: NOW)
    cassandra = cassandra_graphs.store()
    try:
        for store in (embedded, cassandra):
            store.upsert_nodes(nodes)
            for i in range(0, len(edges), 40):
                store.upsert_edges(edges[i : i + 40])
        cassandra._clock = lambda: NOW
        expected = answers(embedded, random.Random(seed))
        for grouped in (True, False):
            cassandra.grouped_reads = grouped
            got = answers(cassandra, random.Random(seed))
            assert len(got) == len(expected)
            for mine, theirs in zip(got, expected, strict=True):
                assert mine == theirs, (grouped, mine if isinstance(mine, tuple) else "")
    finally:
        embedded.close()
        cassandra_graphs.release(cassandra)


def test_grouped_reads_take_fewer_requests_than_partitions(
    cassandra_graphs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes, edges = fleet_events(3)
    store = cassandra_graphs.store()
    counted: list[int] = []
    try:
        store.upsert_nodes(nodes)
        store.upsert_edges(edges)
        run = store._run

        def counting(jobs: Any, action: str, *args: Any, **kwargs: Any) -> Any:
            jobs = list(jobs)
            counted.append(len(jobs))
            return run(jobs, action, *args, **kwargs)

        monkeypatch.setattr(store, "_run", counting)
        store.directory_reads = False  # every bucket (test_cassandra_bucket_directory.py)
        for grouped in (False, True):
            store.grouped_reads = grouped
            counted.clear()
            found = store.neighbours("ran_on", SERVERS, Direction.IN)  # 8 buckets each
            assert sum(map(len, found.values())) > 0
            requests = sum(counted)
            if not grouped:
                assert requests == len(SERVERS) * 8
            else:  # 80 partitions, 64 a SELECT
                assert requests == 2
    finally:
        store.grouped_reads = None
        cassandra_graphs.release(store)


def test_unbucketed_sides_read_whole_partitions_not_the_time_index(
    tmp_path: Path, cassandra_graphs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a windowed read of an unbucketed side (in_rack, had_fault, ran_on's job side)
    # skips the time index: one round trip, the same answer as the embedded store's
    # and as the index's (INDEX_MIN_BUCKETS 1: always the index); a bucketed side
    # (ran_on's server side) still reads the index; cached_at (a TTL) never does
    nodes, edges = fleet_events(4)
    embedded = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite", clock=lambda: NOW)
    store = cassandra_graphs.store()
    actions: list[str] = []
    try:
        for target in (embedded, store):
            target.upsert_nodes(nodes)
            target.upsert_edges(edges)
        store._clock = lambda: NOW
        run = store._run

        def recording(jobs: Any, action: str, *args: Any, **kwargs: Any) -> Any:
            actions.append(action)
            return run(jobs, action, *args, **kwargs)

        monkeypatch.setattr(store, "_run", recording)
        assert store._indexed >= {"ran_on", "in_rack", "had_fault"}  # cached_at: a TTL
        rng = random.Random(4)
        starts = [w for w in windows(rng) if w is not None and w.start is not None]
        assert starts
        for window in starts:
            for edge_type, direction, ids in READS:
                expected = embedded.neighbours(edge_type, ids, direction, window)
                wide = store._edge_ns(edge_type).side(direction).buckets > 1
                has_index = edge_type in store._indexed
                for minimum in (2, 1):
                    monkeypatch.setattr(time_reads, "INDEX_MIN_BUCKETS", minimum)
                    actions.clear()
                    got = store.neighbours(edge_type, ids, direction, window)
                    assert got == expected, (edge_type, direction, window, minimum)
                    indexed = f"read the {edge_type} time index" in actions
                    assert indexed == (has_index and (wide or minimum == 1)), (
                        edge_type, direction, minimum, actions)
                    if not indexed:  # a wide side asks its bucket directory first,
                        # unless one SELECT names every bucket (small_reads_whole)
                        buckets = store._edge_ns(edge_type).side(direction).buckets
                        small = len(ids) * buckets <= partition_reads.PARTITIONS_PER_SELECT
                        directory = [f"read the {edge_type} bucket directory"
                                     ] if wide and not small else []
                        assert actions == [*directory, f"read {edge_type} edges"]
    finally:
        embedded.close()
        cassandra_graphs.release(store)
