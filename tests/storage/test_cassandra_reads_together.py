"""The reads that take fewer round trips on Cassandra answer what the embedded store
answers on the same events: a query's independent reads run at once
(``GraphStore.together``, storage/cassandra/read_pool.py), a small read of a wide side
without its bucket directory, and a window read of ``in_site``'s wide side whole
instead of through the time index (``small_reads_whole``); each with the other way
(everything one after another, directory and index as before) beside it."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.serving.queries.affected_jobs import affected_jobs
from fleetgraph.serving.queries.blast_radius import blast_radius
from fleetgraph.serving.queries.residency import data_residency, residency_summary
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from fleetgraph.storage.cassandra import partition_reads
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.e2e.fleet_run import END_US, ingest_into, simulated_messages
from tests.storage.test_cassandra_bucket_directory import actions_of, stores_holding

pytestmark = pytest.mark.integration

H = 3_600_000_000
DAY = 24 * H
NOW = time.time_ns() // 1000
CONFIG = SimulationConfig(seed=23, sites=3, hours=6.0, end_time_us=END_US,
                          jobs_per_site_per_hour=6.0, cdu_fault_rate=4.0,
                          power_shelf_fault_rate=3.0, staged_cdu_faults=2, rack_moves=2,
                          reorder_rate=0.2, duplicate_rate=0.05)
WAYS = [(True, True), (False, False), (True, False), (False, True)]  # concurrent, whole


def threads_of(store: Any, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """From now on, the names of the threads the store's requests are sent from."""
    seen: set[str] = set()
    run = store._run

    def recording(jobs: Any, action: str, *args: Any, **kwargs: Any) -> Any:
        seen.add(threading.current_thread().name)
        return run(jobs, action, *args, **kwargs)

    monkeypatch.setattr(store, "_run", recording)
    return seen


@pytest.fixture(scope="module")
def fleet_messages() -> list[Any]:
    messages, _ = simulated_messages(CONFIG)
    random.Random(5).shuffle(messages)
    return messages


def query_answers(store: GraphStore, ids: dict[str, list[str]]) -> list[Any]:
    start = END_US - int(CONFIG.hours * H)
    got: list[Any] = []
    for component in ids["components"]:
        got.append(affected_jobs(store, component, TimeWindow()))
        got.append(affected_jobs(store, component, TimeWindow(start + H, END_US - H)))
        for at in (start + 2 * H, END_US - H // 2):
            got.append(blast_radius(store, component, at))
    for dataset in ids["datasets"]:
        got.append(data_residency(store, dataset, ["eu-de"], now_us=END_US))
        got.append(data_residency(store, dataset, ["eu-de"], window=TimeWindow(start + H),
                                  now_us=END_US))
        got.append(residency_summary(store, dataset, ["eu-de"], first=3, now_us=END_US))
    return got


def test_queries_answer_as_the_embedded_store_every_way(
    tmp_path: Path, cassandra_graphs: Any, fleet_messages: list[Any],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite", clock=lambda: END_US)
    store = cassandra_graphs.store()
    store._clock = lambda: END_US
    try:
        for target in (embedded, store):
            ingest_into(target, fleet_messages)
        ids = {
            "components": sorted(
                r.id for t in ("cdu", "power_shelf", "rack", "switch", "server", "site")
                for r in embedded.scan_nodes(t, None, 4).records),
            "datasets": [r.id for r in embedded.scan_nodes("dataset", None, 6).records],
        }
        assert len(ids["components"]) > 12 and len(ids["datasets"]) > 2
        expected = query_answers(embedded, ids)
        assert any(getattr(a, "items", None) for a in expected)
        assert any(getattr(a, "places", None) for a in expected)
        threads = threads_of(store, monkeypatch)
        for concurrent, whole in WAYS:
            store.concurrent_reads, store.small_reads_whole = concurrent, whole
            threads.clear()
            got = query_answers(store, ids)
            assert len(got) == len(expected)
            for n, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
                assert mine == theirs, (concurrent, whole, n)
            pooled = {t for t in threads if t.startswith("fleetgraph-reads")}
            assert bool(pooled) == concurrent, threads
    finally:
        embedded.close()
        cassandra_graphs.release(store)


def prov(event_id: str, t: int) -> Provenance:
    return Provenance(event_id, "test:0", t, "reads-together-test")


SITES = [f"site:x{i}" for i in range(3)]
HELD = [f"rack:r{i}" for i in range(12)] + [f"cdu:c{i}" for i in range(5)]
DATASETS = [f"dataset:d{i}" for i in range(8)]
JOBS = [f"job:j{i}" for i in range(30)]


def side_events(seed: int) -> list[EdgeUpsert]:
    """Racks and CDUs moving between sites (opens, closes, reopenings over five days) and
    jobs reading datasets; shuffled, a fifth delivered twice."""
    rng = random.Random(seed)
    events: list[EdgeUpsert] = []
    for n, node in enumerate(HELD):
        for k in range(rng.randint(1, 3)):
            t = NOW - rng.randint(0, 5 * DAY)
            roll = rng.random()
            props: dict[str, Any] = (
                {"valid_from": t, "valid_to": None} if roll < 0.5
                else {"valid_to": t + rng.randint(0, DAY)} if roll < 0.75
                else {"valid_from": t, "valid_to": t + rng.randint(H, 2 * DAY)})
            events.append(EdgeUpsert("in_site", node, rng.choice(SITES), props, t,
                                     prov(f"s{n}{k}", t)))
    for n, job in enumerate(JOBS):
        for d in rng.sample(DATASETS, rng.randint(0, 3)):
            t = NOW - rng.randint(0, 3 * DAY)
            events.append(EdgeUpsert("read", job, d, {"at": t}, t, prov(f"r{n}{d}", t)))
    events += rng.sample(events, len(events) // 5)
    rng.shuffle(events)
    return events


@pytest.fixture
def side_pair(tmp_path: Path, cassandra_graphs: Any) -> Iterator[tuple[Any, GraphStore]]:
    nodes = [NodeUpsert("site", s, {"jurisdiction": "de"}, NOW, prov(s, NOW)) for s in SITES]
    with stores_holding(tmp_path, cassandra_graphs, nodes, side_events(7), NOW, 25) as pair:
        yield pair


def side_windows(rng: random.Random) -> Iterator[TimeWindow | None]:
    yield None
    yield TimeWindow()
    yield TimeWindow.at(NOW - DAY)
    yield TimeWindow(end=NOW - 2 * DAY)
    for _ in range(5):
        a, b = sorted(rng.randint(NOW - 6 * DAY, NOW + DAY) for _ in range(2))
        yield TimeWindow(a, b)


def test_a_sites_window_is_read_whole_with_the_answer_of_the_index(
    side_pair: tuple[Any, GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, embedded = side_pair
    assert "in_site" in store._indexed
    actions = actions_of(store, monkeypatch)
    for window in side_windows(random.Random(3)):
        for ids in ([SITES[0]], SITES, [*SITES, "site:none"]):
            expected = embedded.neighbours("in_site", ids, Direction.IN, window)
            for whole in (True, False):
                store.small_reads_whole = whole
                actions.clear()
                assert store.neighbours("in_site", ids, Direction.IN, window) == expected
                assert store.neighbour_ids("in_site", ids, Direction.IN, window=window) == (
                    embedded.neighbour_ids("in_site", ids, Direction.IN, window=window))
                through_index = "read the in_site time index" in actions
                assert through_index == (not whole and window is not None
                                         and window.start is not None), (window, whole)


def test_a_small_read_of_a_wide_side_skips_its_directory(
    side_pair: tuple[Any, GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, embedded = side_pair
    assert "read" in store._directed
    actions = actions_of(store, monkeypatch)
    # 16 buckets a dataset: up to 4 datasets fit in one SELECT of 64 partitions
    for ids, small in ((DATASETS[:1], True), (DATASETS[:4], True), (DATASETS, False)):
        for recorded_by in (None, NOW - DAY):
            expected = embedded.neighbour_ids("read", ids, Direction.IN, recorded_by=recorded_by)
            for whole in (True, False):
                store.small_reads_whole = whole
                actions.clear()
                assert store.neighbour_ids("read", ids, Direction.IN,
                                           recorded_by=recorded_by) == expected
                assert store.neighbours("read", ids, Direction.IN) == embedded.neighbours(
                    "read", ids, Direction.IN)
                directory = "read the read bucket directory" in actions
                assert directory == (not (whole and small)), (ids, whole)
    # a read of one partition a SELECT (a larger cluster) always asks the directory
    store.grouped_reads, store.small_reads_whole = False, True
    actions.clear()
    assert store.neighbour_ids("read", DATASETS[:1], Direction.IN) == embedded.neighbour_ids(
        "read", DATASETS[:1], Direction.IN)
    assert "read the read bucket directory" in actions
    # a smaller SELECT: even one dataset's buckets do not fit, the directory is read
    store.grouped_reads = True
    monkeypatch.setattr(partition_reads, "PARTITIONS_PER_SELECT", 8)
    actions.clear()
    store.neighbour_ids("read", DATASETS[:1], Direction.IN)
    assert "read the read bucket directory" in actions
