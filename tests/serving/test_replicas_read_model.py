"""The ``replicas`` read model (per artifact or dataset, its ``cached_at`` intervals as
the store folds them) gives what the store gives, and the queries that read it answer
as they do from the store alone.

* Random ``cached_at`` writes (replications, accesses, evictions, whole intervals,
  some older than the live TTL), shuffled with duplicates, written through the
  pipeline's sink that keeps the rows: for many windows and "now"s, the rows'
  intervals equal ``store.neighbours("cached_at", ..., window)`` (the reference), on
  both backends; the rows kept by the sink equal a rebuild.
* Random simulated fleets ingested in a shuffled order with duplicates: modelHotness,
  placement (its model part), dataResidency and dataResidencySummary through the rows
  equal the same queries on the store with the rows hidden (today's path: every
  interval folded from history), for several windows and instants, with the rows as
  kept, after a rebuild, and without rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.records import EdgeRecord, EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.read_models.maintain import MaintainingStoreSink
from fleetgraph.ingest.read_models.replicas import (
    REPLICAS,
    TTL_US,
    ItemReplicas,
    Replica,
    ReplicaMaintainer,
    replica_sites,
    replicas_within,
)
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.serving.errors import NotFound
from fleetgraph.serving.queries.hotness import model_hotness
from fleetgraph.serving.queries.placement import (
    PlacementRequest,
    placement,
    placement_reference,
)
from fleetgraph.serving.queries.residency import data_residency, residency_summary
from fleetgraph.settings import IngestSettings
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from fleetgraph.storage.delegating import DelegatingStore
from tests.e2e.fleet_run import END_US, simulated_messages

H = 3_600_000_000
DAY = 24 * H


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Hidden(DelegatingStore):
    """The store without the replicas rows: the queries take today's path."""

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        if model == REPLICAS:
            return {}
        return self.inner.get_read_models(model, keys)


class Counting(DelegatingStore):
    """Counts the items whose ``cached_at`` intervals are read from the store."""

    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner)
        self.folded = 0

    def neighbours(self, edge_type: str, ids: Sequence[str], direction: Direction,
                   window: TimeWindow | None = None) -> dict[str, list[EdgeRecord]]:
        if edge_type == "cached_at":
            self.folded += len(ids)
        return self.inner.neighbours(edge_type, ids, direction, window)


# --- random cached_at writes ---------------------------------------------------------------


def random_writes(rng: random.Random, now: int, items: list[str], sites: list[str],
                  count: int) -> list[EdgeUpsert]:
    """Writes as the pipeline maps replication events (and some it never makes: a whole
    interval, an eviction with its start), over 45 days before ``now``."""
    writes: list[EdgeUpsert] = []
    for k in range(count):
        item, site = rng.choice(items), rng.choice(sites)
        ts = now - rng.randrange(0, 45 * DAY) if rng.random() < 0.5 else (
            now - rng.randrange(0, 3 * DAY))
        kind = rng.random()
        props: dict[str, object]
        if kind < 0.35:  # replicated
            props = {"valid_from": ts, "valid_to": None, "tier": rng.randrange(3),
                     "last_access": ts}
        elif kind < 0.6:  # accessed
            props = {"last_access": ts}
            if rng.random() < 0.7:
                props["hits"] = rng.randrange(100)
            if rng.random() < 0.3:
                props["tier"] = rng.randrange(3)
        elif kind < 0.85:  # evicted
            props = {"valid_to": ts}
        elif kind < 0.93:  # a whole interval
            props = {"valid_from": ts - rng.randrange(1, 6 * H), "valid_to": ts,
                     "tier": rng.randrange(3)}
        else:  # an eviction that tells its start
            props = {"valid_from": ts - rng.randrange(1, 2 * DAY), "valid_to": ts}
        writes.append(EdgeUpsert("cached_at", item, site, props, ts,
                                 Provenance(f"ev{k}", "test", ts, "test")))
    writes += rng.sample(writes, len(writes) // 5)  # duplicates
    rng.shuffle(writes)
    return writes


def windows_for(now: int) -> list[TimeWindow]:
    spans = [TimeWindow(), TimeWindow(now - DAY, now), TimeWindow(now - 40 * DAY, now - 20 * DAY),
             TimeWindow(None, now - 10 * DAY), TimeWindow(now - 2 * DAY, None),
             TimeWindow.at(now - 3 * H), TimeWindow(now - 50 * DAY, now - 44 * DAY),
             TimeWindow(now + H, now + 40 * DAY)]
    rng = random.Random(now)
    for _ in range(12):
        start = now - rng.randrange(0, 46 * DAY)
        spans.append(TimeWindow(start, start + rng.choice([H, 6 * H, DAY, 9 * DAY])))
    return spans


def check_rows_equal_the_store(store: GraphStore, items: list[str], now: int) -> int:
    """For every window, the rows' intervals (and sites) equal the store's; returns how
    many (item, window) the rows answered."""
    from_rows = 0
    for window in windows_for(now):
        expected = store.neighbours("cached_at", items, Direction.OUT, window)
        counting = Counting(store)
        got = replicas_within(counting, items, window, now)
        assert got == {i: [Replica.of(e) for e in edges] for i, edges in expected.items()}, (
            window)
        from_rows += len(items) - counting.folded
        sites = store.neighbour_ids("cached_at", items, Direction.OUT, window=window)
        assert replica_sites(store, items, window, now) == sites, window
    return from_rows


def write_through_sink(store: GraphStore, writes: list[EdgeUpsert], clock: Callable[[], int],
                       every_s: float, batch: int = 25) -> MaintainingStoreSink:
    sink = MaintainingStoreSink(store, clock, every_s=every_s, pace=0.0)
    for i in range(0, len(writes), batch):
        sink.write(writes[i : i + batch])
    sink.catch_up()
    return sink


def rows_of(store: GraphStore) -> dict[str, ItemReplicas]:
    rows = {}
    for item, text in store.get_read_models(REPLICAS).items():
        row = ItemReplicas.decode(item, text)
        assert row is not None
        rows[item] = row
    return rows


ITEMS = [f"artifact:a{i}" for i in range(6)] + [f"dataset:d{i}" for i in range(4)]
SITES = [f"site:s{i}" for i in range(4)]


@pytest.mark.parametrize(("seed", "every_s"), [(1, 0.0), (2, 0.0), (3, 1e9), (4, 0.0)])
def test_rows_equal_the_store_embedded(seed: int, every_s: float) -> None:
    """The store's clock and the sink's move together; queried at the last write, an
    hour later, and past the live TTL of the latest writes (the rows then stop holding
    and the items are read from the store: the same answer)."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    rng = random.Random(seed)
    now = END_US
    clock = Clock(now)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    writes = random_writes(rng, now, ITEMS, SITES, 400)
    sink = write_through_sink(store, writes, clock, every_s)
    assert sink.replicas.recomputed >= len(ITEMS)
    asked = [*ITEMS, "artifact:never-cached"]
    assert check_rows_equal_the_store(store, asked, now) > 0
    clock.now = now + H
    assert check_rows_equal_the_store(store, asked, clock.now) > 0
    kept = rows_of(store)
    assert set(kept) == set(ITEMS)
    ReplicaMaintainer(store, clock).rebuild()  # the rows kept equal a rebuild
    rebuilt = rows_of(store)
    for item, row in kept.items():
        if row.holds_at(clock.now):
            assert rebuilt[item].pairs == row.pairs, item
    clock.now = now + TTL_US + 2 * DAY  # every replica written expired since
    check_rows_equal_the_store(store, asked, clock.now)
    ReplicaMaintainer(store, clock).rebuild()
    assert check_rows_equal_the_store(store, asked, clock.now) > 0
    clock.now = now  # rows computed later do not hold earlier: the store answers
    assert check_rows_equal_the_store(store, asked, now) == 0


@pytest.mark.integration
def test_rows_equal_the_store_cassandra(
    store_factory: Callable[[], GraphStore], request: pytest.FixtureRequest
) -> None:
    """On Cassandra (its live TTL counts from each write's event time by the server's
    clock): writes over the 45 days before now, rows kept as of the wall clock."""
    if request.node.callspec.params.get("store_factory") != "cassandra":
        pytest.skip("the embedded backend has its own test above")
    store = store_factory()
    rng = random.Random(5)
    now = wall_clock_us()
    write_through_sink(store, random_writes(rng, now, ITEMS, SITES, 300), wall_clock_us, 0.0)
    assert check_rows_equal_the_store(store, ITEMS, wall_clock_us()) > 0
    kept = rows_of(store)
    ReplicaMaintainer(store, wall_clock_us).rebuild()
    rebuilt = rows_of(store)
    assert set(rebuilt) == set(kept) == set(ITEMS)
    for item, row in kept.items():
        assert rebuilt[item].pairs == row.pairs, item


def test_an_evicted_replica_whose_history_is_open() -> None:
    """The live edge tells of an eviction the history folds elsewhere (an eviction
    whose event time comes before the latest replication): a window the live edge
    misses gets the interval from history alone."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    now = END_US
    clock = Clock(now)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)

    def write(k: int, ts: int, props: dict[str, object], prop_ts: dict[str, int] | None = None
              ) -> EdgeUpsert:
        return EdgeUpsert("cached_at", "artifact:x", "site:s", props, ts,
                          Provenance(f"e{k}", "test", ts, "test"), prop_ts)

    writes = [write(0, now - 10 * H, {"valid_from": now - 10 * H, "valid_to": None, "tier": 0}),
              write(1, now - 5 * H, {"valid_to": now - 6 * H}),  # an eviction told late
              write(2, now - 2 * H, {"last_access": now - 2 * H, "hits": 3})]
    write_through_sink(store, writes, clock, 0.0)
    assert check_rows_equal_the_store(store, ["artifact:x"], now) > 0
    for start in range(-12, 3):
        window = TimeWindow(now + start * H, None)
        expected = store.neighbours("cached_at", ["artifact:x"], Direction.OUT, window)
        got = replicas_within(store, ["artifact:x"], window, now)
        assert got["artifact:x"] == [Replica.of(e) for e in expected["artifact:x"]], start


# --- the queries on simulated fleets -------------------------------------------------------


FLEETS = [
    SimulationConfig(seed=3, sites=3, hours=6.0, end_time_us=END_US, jobs_per_site_per_hour=8.0,
                     telemetry_interval_s=1800, reorder_rate=0.2),
    SimulationConfig(seed=29, sites=4, hours=12.0, end_time_us=END_US,
                     jobs_per_site_per_hour=4.0, telemetry_interval_s=1800, reorder_rate=0.3),
]


def ingest_fleet(store: GraphStore, config: SimulationConfig, order_seed: int,
                 clock: Clock, every_s: float) -> MaintainingStoreSink:
    messages, _ = simulated_messages(config)
    rng = random.Random(order_seed)
    messages += rng.sample(messages, len(messages) // 5)
    rng.shuffle(messages)
    sink = MaintainingStoreSink(store, clock, every_s=every_s, pace=0.0)
    pipeline = Pipeline.for_fleet(sink, DeadLetterList(), clock=lambda: config.end_time_us,
                                  ingest=IngestSettings(batch_size=200, dedup_window_s=60.0))
    run_embedded(pipeline, lambda: messages)
    sink.catch_up()
    return sink


def ids(store: GraphStore, node_type: str, count: int) -> list[str]:
    return [r.id for r in store.scan_nodes(node_type, None, count).records]


def hotness_cases(store: GraphStore, now: int, start: int) -> Iterator[tuple[str, TimeWindow]]:
    models = ids(store, "model", 50)
    assert models, "the fleet has models"
    for model in models:
        for window in (TimeWindow(now - DAY, now), TimeWindow(start, now),
                       TimeWindow(start, start + H), TimeWindow(now - H, now + 2 * DAY),
                       TimeWindow(None, start + 2 * H)):
            yield model, window


def check_queries(store: GraphStore, now: int, start: int) -> int:
    """Every query through the rows equals the same on the rows hidden; returns how
    many items the rows answered (read from the store with the rows hidden)."""
    hidden = Counting(Hidden(store))
    counting = Counting(store)
    for model, window in hotness_cases(store, now, start):
        for first in (None, 2):
            assert model_hotness(counting, model, window, first, now_us=now) == model_hotness(
                hidden, model, window, first, now_us=now), (model, window)
    with pytest.raises(NotFound):
        model_hotness(store, "model:nowhere", TimeWindow(now - DAY, now), now_us=now)
    datasets = ids(store, "dataset", 6)
    assert datasets
    sites = store.scan_nodes("site", None, 100).records
    allowed = sorted({str(s.props.get("jurisdiction")) for s in sites})[:1]
    mid = (start + now) // 2
    for dataset in datasets:
        for window in (None, TimeWindow(start, mid), TimeWindow(mid, now),
                       TimeWindow(now - H, None), TimeWindow(None, start + H)):
            got = data_residency(counting, dataset, allowed, window=window, now_us=now)
            assert got == data_residency(hidden, dataset, allowed, window=window, now_us=now)
            for violations_only in (True, False):
                after = None
                for _ in range(3):
                    page = residency_summary(counting, dataset, allowed, first=3, after=after,
                                             violations_only=violations_only, window=window,
                                             now_us=now)
                    assert page == residency_summary(
                        hidden, dataset, allowed, first=3, after=after,
                        violations_only=violations_only, window=window, now_us=now)
                    after = page.next_after
                    if after is None:
                        break
    for model in ids(store, "model", 3):
        for request in (PlacementRequest(1, model_id=model),
                        PlacementRequest(4, model_id=model, dataset_ids=tuple(datasets[:2]),
                                         first=2, servers_for=1)):
            bare = Hidden(store)
            assert placement(store, request, now) == placement(bare, request, now)
            at = replace(request, at_us=now - 2 * H)
            assert placement_reference(store, at, now) == placement_reference(bare, at, now)
    return hidden.folded - counting.folded


@pytest.mark.parametrize(("config", "order_seed", "every_s"),
                         [(FLEETS[0], 1, 0.0), (FLEETS[1], 7, 1e9)])
def test_queries_through_the_rows_equal_the_store_embedded(
    config: SimulationConfig, order_seed: int, every_s: float
) -> None:
    """every_s 0: every batch recomputes the items it touched; 1e9: deletes their rows,
    the end of the run recomputes them."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    clock = Clock(END_US)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    sink = ingest_fleet(store, config, order_seed, clock, every_s)
    assert sink.replicas.recomputed > 0
    start = END_US - int(config.hours * H)
    assert check_queries(store, END_US, start) > 0  # the rows as the sink kept them
    for later in (END_US + H, END_US + TTL_US + DAY):  # past the TTL: read from the store
        clock.now = later
        check_queries(store, later, start)
    clock.now = END_US
    ReplicaMaintainer(store, clock).rebuild()
    assert check_queries(store, END_US, start) > 0
    store.put_read_models(REPLICAS, dict.fromkeys(store.get_read_models(REPLICAS)))
    assert check_queries(store, END_US, start) == 0  # no rows: today's path


@pytest.mark.integration
def test_queries_through_the_rows_equal_the_store_cassandra(
    store_factory: Callable[[], GraphStore], request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params.get("store_factory") != "cassandra":
        pytest.skip("the embedded backend has its own test above")
    store = store_factory()
    now = wall_clock_us() // H * H
    config = replace(FLEETS[0], end_time_us=now)
    clock = Clock(now)  # the rows as of the fleet's end; the store's TTL by the wall clock
    ingest_fleet(store, config, 3, clock, 0.0)
    start = now - int(config.hours * H)
    ReplicaMaintainer(store, wall_clock_us).rebuild()
    assert check_queries(store, wall_clock_us(), start) > 0


def test_read_models_rebuild_cli_makes_the_rows(tmp_path: Path) -> None:
    """`fleetgraph read-models rebuild --only replicas` on a store without rows (written
    without the sink) makes one row per item, as of the wall clock, that the queries
    then read: the rows equal the store's intervals."""
    from click.testing import CliRunner

    from fleetgraph.cli.main import cli
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    now = wall_clock_us()
    path = tmp_path / "graph.sqlite"
    store = SQLiteGraphStore(FLEET, path)
    store.upsert_nodes([NodeUpsert("site", s, {}, now, Provenance("n", "test", now, "test"))
                        for s in SITES])  # no item nodes: the items are found by site
    store.upsert_edges(random_writes(random.Random(9), now, ITEMS, SITES, 200))
    assert store.get_read_models(REPLICAS) == {}
    assert check_rows_equal_the_store(store, ITEMS, wall_clock_us()) == 0  # no row yet
    done = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "read-models", "rebuild",
                                    "--db", str(path), "--only", "replicas"])
    assert done.exit_code == 0, done.output
    assert f"{len(ITEMS)} items' replicas recomputed" in done.output
    assert set(store.get_read_models(REPLICAS)) == set(ITEMS)
    assert check_rows_equal_the_store(store, ITEMS, wall_clock_us()) > 0
    store.close()
