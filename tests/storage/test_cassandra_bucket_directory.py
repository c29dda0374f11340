"""A wide side's bucket directory (storage/cassandra/README.md, "Wide adjacency: buckets"):
reads that ask only the buckets it lists answer what reads of every bucket answer, and
what the embedded store answers, on shuffled and duplicated events (the TTL'd
``cached_at`` too, some of its writes expired and kept only in history); an entry
outlives the rows it stands for (a short TTL, checked on the server's own TTLs and after
expiry); data written before the directory existed reads every bucket until
``fleetgraph storage reindex`` fills it, then the same answers through it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.graph_model.types import EdgeType, NodeType, Prop, PropKind, Registry
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from fleetgraph.storage.cassandra import partition_reads
from fleetgraph.storage.cassandra.schema import Wide, stable_bucket
from fleetgraph.storage.embedded import SQLiteGraphStore

pytestmark = pytest.mark.integration

S = 1_000_000
H = 3600 * S
DAY = 24 * H
NOW = time.time_ns() // 1000
JOBS = [f"job:j{i}" for i in range(40)]
DATASETS = [f"dataset:d{i}" for i in range(12)]
MODELS = [f"model:m{i}" for i in range(6)]
SERVERS = [f"server:s{i}" for i in range(6)]
ARTIFACTS = [f"artifact:a{i}" for i in range(10)]
SITES = [f"site:x{i}" for i in range(3)]
NOBODY = ["dataset:none", "server:none"]


def prov(event_id: str, t: int) -> Provenance:
    return Provenance(event_id, "test:0", t, "directory-test")


def fleet_events(seed: int) -> list[EdgeUpsert]:
    """Reads of datasets (a few readers each, one dataset read by every job: all 16
    buckets), models used, jobs on servers (intervals), artifacts cached at sites (the
    TTL'd type: some writes 40 days old, expired live, kept in history); shuffled, a
    fifth of them delivered twice."""
    rng = random.Random(seed)
    events: list[EdgeUpsert] = []
    for n, job in enumerate(JOBS):
        read = [*rng.sample(DATASETS[1:], rng.randint(0, 2)), DATASETS[0]]
        for d in read:
            t = NOW - rng.randint(0, 3 * DAY)
            events.append(EdgeUpsert("read", job, d, {"at": t}, t, prov(f"r{n}{d}{t}", t)))
        if rng.random() < 0.5:
            t = NOW - rng.randint(0, DAY)
            events.append(EdgeUpsert("used_model", job, rng.choice(MODELS), {}, t,
                                     prov(f"u{n}", t)))
        for k, server in enumerate(rng.sample(SERVERS, rng.randint(0, 2))):
            t = NOW - rng.randint(0, 2 * DAY)
            end = None if rng.random() < 0.4 else t + rng.randint(H, DAY)
            events.append(EdgeUpsert("ran_on", job, server, {"valid_from": t, "valid_to": end,
                                                             "gpus": 8}, t, prov(f"o{n}{k}", t)))
    for n, artifact in enumerate(ARTIFACTS):
        for k, site in enumerate(rng.sample(SITES, rng.randint(0, 3))):
            t = NOW - rng.choice([40 * DAY, rng.randint(0, 5 * DAY)])
            events.append(EdgeUpsert("cached_at", artifact, site,
                                     {"valid_from": t, "valid_to": None, "tier": 0}, t,
                                     prov(f"c{n}{k}", t)))
    events += rng.sample(events, len(events) // 5)
    rng.shuffle(events)
    return events


WIDE_READS = [  # (edge type, ids of the wide side)
    ("read", DATASETS + NOBODY[:1]),
    ("used_model", MODELS),
    ("ran_on", SERVERS + NOBODY[1:]),
    ("cached_at", SITES),
]


def answers(store: GraphStore) -> list[Any]:
    got: list[Any] = []
    for edge_type, ids in WIDE_READS:
        got.append(store.neighbour_ids(edge_type, ids, Direction.IN))
        got.append(store.neighbour_ids(edge_type, ids, Direction.IN, recorded_by=NOW - DAY))
        for window in (None, TimeWindow(), TimeWindow(NOW - DAY, NOW), TimeWindow(end=NOW - DAY)):
            got.append(store.neighbours(edge_type, ids, Direction.IN, window))
    return got


def actions_of(store: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The actions of the store's requests from now on (``_run``'s label)."""
    seen: list[str] = []
    run = store._run

    def recording(jobs: Any, action: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(action)
        return run(jobs, action, *args, **kwargs)

    monkeypatch.setattr(store, "_run", recording)
    return seen


def partitions_asked(store: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, the partitions each SELECT of a bucketed adjacency table names."""
    counts: list[int] = []
    run = store._run

    def counting(jobs: Any, action: str, *args: Any, **kwargs: Any) -> Any:
        jobs = list(jobs)
        for statement, params in jobs:
            cql = getattr(statement, "query_string", "")
            if "in_edges WHERE" in cql and params is not None:
                near, bucket = params[0], params[1]
                counts.append((len(near) if isinstance(near, list) else 1)
                              * (len(bucket) if isinstance(bucket, list) else 1))
        return run(jobs, action, *args, **kwargs)

    monkeypatch.setattr(store, "_run", counting)
    return counts


@pytest.fixture
def fleet_pair(tmp_path: Path, cassandra_graphs: Any) -> Iterator[tuple[Any, GraphStore]]:
    """The same shuffled, duplicated events in Cassandra (fresh keyspaces of the fleet)
    and in the embedded store, both on the clock NOW."""
    nodes = [NodeUpsert("site", s, {"jurisdiction": "de"}, NOW, prov(s, NOW)) for s in SITES]
    with stores_holding(tmp_path, cassandra_graphs, nodes, fleet_events(5), NOW, 30) as pair:
        yield pair


@contextmanager
def stores_holding(tmp_path: Path, cassandra_graphs: Any, nodes: list[NodeUpsert],
                   edges: list[EdgeUpsert], now: int, chunk: int
                   ) -> Iterator[tuple[Any, GraphStore]]:
    """A Cassandra store (fresh keyspaces of the fleet) and an embedded one, both on the
    clock ``now``, holding ``nodes`` and then ``edges``, written ``chunk`` at a time."""
    embedded = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite", clock=lambda: now)
    store = cassandra_graphs.store()
    store._clock = lambda: now
    try:
        for target in (embedded, store):
            target.upsert_nodes(nodes)
            for i in range(0, len(edges), chunk):
                target.upsert_edges(edges[i : i + chunk])
        yield store, embedded
    finally:
        embedded.close()
        cassandra_graphs.release(store, written_elsewhere=True)


def test_reads_through_the_directory_equal_every_bucket_and_the_embedded_store(
    fleet_pair: tuple[Any, GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, embedded = fleet_pair
    monkeypatch.setattr(partition_reads, "PARTITIONS_PER_SELECT", 5)  # several SELECTs a read
    assert {"read", "used_model", "ran_on", "cached_at"} <= store._directed
    expected = answers(embedded)
    assert any(expected[0].values()) and any(expected[-3].values())  # reads, replicas
    for grouped in (True, False):
        store.grouped_reads = grouped
        for through_directory in (True, False):
            store.directory_reads = through_directory
            got = answers(store)
            for mine, theirs in zip(got, expected, strict=True):
                assert mine == theirs, (grouped, through_directory)


def test_directory_reads_ask_only_the_listed_partitions(
    fleet_pair: tuple[Any, GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every bucket: 16 partitions a dataset. Through the directory, ungrouped: the
    listed ones; grouped: those and a few more packed into the same SELECTs, far fewer
    than every bucket."""
    store, _ = fleet_pair
    listed = {d: {stable_bucket(j, 16) for j in readers}
              for d, readers in store.neighbour_ids("read", DATASETS, Direction.IN).items()}
    total = sum(map(len, listed.values()))
    assert total > 16  # the dataset every job read fills most of its 16 buckets
    asked = partitions_asked(store, monkeypatch)
    store.grouped_reads = True
    store.directory_reads = False
    store.neighbour_ids("read", DATASETS, Direction.IN)
    assert sum(asked) == 16 * len(DATASETS)
    store.directory_reads = True
    for grouped in (False, True):
        store.grouped_reads = grouped
        asked.clear()
        store.neighbour_ids("read", DATASETS, Direction.IN)
        if grouped:
            assert total <= sum(asked) < 16 * len(DATASETS)
            assert max(asked) <= partition_reads.PARTITIONS_PER_SELECT
        else:
            assert sum(asked) == len(asked) == total


def short_ttl_registry() -> Registry:
    registry = Registry()
    registry.add_node(NodeType.declare("job", [Prop("site_id", PropKind.STRING)]))
    registry.add_node(NodeType.declare("dataset", [Prop("name", PropKind.STRING)]))
    registry.add_edge(EdgeType.declare("touched", ["job"], ["dataset"],
                                       [Prop("n", PropKind.INT)], ttl_seconds=10,
                                       history_seconds=20))
    return registry


def test_an_entry_outlives_the_rows_it_stands_for(
    cassandra_graphs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A type living 10 s, its history 20 s: writes of two ages into the same buckets,
    the newer first, duplicated. Every partition's entry expires no sooner than its rows
    (the server's TTLs), and after the older writes expired, reads through the directory
    still equal reads of every bucket, live and with history."""
    registry = short_ttl_registry()
    store = cassandra_graphs.store(registry, wide_edges={"touched": Wide(Direction.IN, 8)})
    try:
        start = time.time_ns() // 1000
        rng = random.Random(3)
        jobs = [f"job:k{i}" for i in range(24)]
        datasets = [f"dataset:e{i}" for i in range(4)]
        newer, older = [], []
        for n, job in enumerate(jobs):
            for d in rng.sample(datasets, 2):
                t_new, t_old = start - rng.randint(0, S), start - 8 * S + rng.randint(0, S)
                newer.append(EdgeUpsert("touched", job, d, {"n": n}, t_new,
                                        prov(f"n{n}{d}", t_new)))
                if n % 2:
                    older.append(EdgeUpsert("touched", job, d, {"n": -n}, t_old,
                                            prov(f"o{n}{d}", t_old)))
                else:  # another pair, the same dataset's buckets
                    older.append(EdgeUpsert("touched", f"job:z{n}", d, {"n": -n}, t_old,
                                            prov(f"o{n}{d}", t_old)))
        store.upsert_edges(newer + newer[:5])
        store.upsert_edges(older + older[-5:])  # older event times after newer ones
        namespace = store._edge_ns("touched")
        assert namespace.directory is not None and namespace.directory.ttl_seconds == 20
        entries = {(near, bucket): ttl for near, bucket, ttl in store.session.execute(
            f"SELECT to_id, bucket, ttl(seen) FROM {namespace.directory.qualified}")}
        rows: dict[tuple[str, int], int] = {}
        for table, column in ((namespace.in_edges, "updated_at"),
                              (namespace.history_side(Direction.IN), "written")):
            assert table is not None
            for near, bucket, ttl in store.session.execute(
                    f"SELECT to_id, bucket, ttl({column}) FROM {table.qualified}"):
                rows[(near, bucket)] = max(rows.get((near, bucket), 0), ttl)
        assert rows and set(rows) <= set(entries)
        for key, ttl in rows.items():
            assert entries[key] >= ttl, key
        time.sleep(max(0.0, (start + 3 * S - time.time_ns() // 1000) / S))  # older expired
        ids = [*datasets, "dataset:none"]
        for window in (None, TimeWindow(), TimeWindow(start - 10 * S, start)):
            store.directory_reads = True
            through = store.neighbours("touched", ids, Direction.IN, window)
            store.directory_reads = False
            every = store.neighbours("touched", ids, Direction.IN, window)
            assert through == every, window
            assert any(through.values())
            if window is None:  # live: the newer writes only, their own values
                assert all(e.props["n"] >= 0 for es in through.values() for e in es)
    finally:
        cassandra_graphs.release(store)


@pytest.mark.timeout(1200)
def test_data_written_before_the_directory_reads_every_bucket_until_reindexed(
    fleet_pair: tuple[Any, GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, embedded = fleet_pair
    expected = answers(embedded)
    directories = [ns.directory for ns in store._edges.values() if ns.directory is not None]
    assert len(directories) == 8
    for table in directories:  # as a store of the previous layout would be
        store.session.execute(f"DROP TABLE {table.qualified}")
    store._cluster.refresh_schema_metadata()
    made = store.init_schema()
    assert len(made) == len(directories) and all("pending" in cql for cql in made)
    store.refresh_index_state()
    assert store._directed == set()
    assert "(run `fleetgraph storage reindex`)" in "\n".join(store.describe().lines)
    actions = actions_of(store, monkeypatch)
    assert answers(store) == expected  # every bucket, as before the directory
    assert not any("bucket directory" in a for a in actions)
    late = EdgeUpsert("read", "job:late", DATASETS[3], {"at": NOW - H}, NOW - H,
                      prov("late", NOW - H))
    store.upsert_edges([late])  # written during the migration: indexes itself
    embedded.upsert_edges([late])
    expected = answers(embedded)
    done = store.reindex()
    assert done["read buckets"] >= len(DATASETS) and done["cached_at buckets"] > 0
    assert store._directed == {t.keyspace.split("edge_", 1)[1] for t in directories}
    assert store.init_schema() == []
    actions.clear()
    assert answers(store) == expected  # through the directory
    assert "read the read bucket directory" in actions
    store.directory_reads = False
    assert answers(store) == expected
