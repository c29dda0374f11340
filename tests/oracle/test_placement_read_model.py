"""placement at now from the pipeline's site-state read model equals the definition
(``placement_reference``: the whole fleet read at that instant), on random fleets from
the simulator ingested in a shuffled order with duplicates, the read model kept by the
pipeline while its clock advances, queried at instants before, at and after its last
write (allocations and faults ending in between), on both backends; with the rows as
the pipeline keeps them (the site directory: no site node read), without the directory
mark (the sites listed from the nodes) and in the older layout 2 (no site properties:
read from the nodes); the best ``first`` candidates as the whole ranking's first."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from fleetgraph.graph_model.records import EdgeUpsert, NodeRecord
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.read_models.maintain import MaintainingStoreSink, SiteStateMaintainer
from fleetgraph.ingest.read_models.site_state import (
    DIRECTORY_KEY,
    SITE_STATE,
    STALE,
    SiteState,
)
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.serving.queries.placement import (
    PlacementRequest,
    placement,
    placement_reference,
)
from fleetgraph.settings import IngestSettings
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import Direction, GraphStore
from fleetgraph.storage.delegating import DelegatingStore
from tests.e2e.fleet_run import END_US, simulated_messages

H = 3_600_000_000
MIN = 60_000_000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def requests(store: GraphStore) -> list[PlacementRequest]:
    models = [r.id for r in store.scan_nodes("model", None, 3).records]
    datasets = tuple(r.id for r in store.scan_nodes("dataset", None, 2).records)
    sites = store.scan_nodes("site", None, 100).records
    jurisdictions = sorted({str(s.props.get("jurisdiction")) for s in sites})
    regions = sorted({str(s.props.get("region")) for s in sites})
    return [
        PlacementRequest(1),
        PlacementRequest(8, model_id=models[0] if models else None, dataset_ids=datasets,
                         preferred_region=regions[0]),
        PlacementRequest(64, allowed_jurisdictions=frozenset([*jurisdictions[:1], "mars"])),
        PlacementRequest(4, model_id="model:not-in-the-graph", allowed_jurisdictions=frozenset()),
        PlacementRequest(2, dataset_ids=datasets, servers_for=1),
        PlacementRequest(1, model_id=models[-1] if models else None, first=2, servers_for=1),
        PlacementRequest(2, preferred_region=regions[-1], first=0),
    ]


def ingest_keeping_read_models(
    store: GraphStore, config: SimulationConfig, order_seed: int, clock: Clock, start: int,
    every_s: float = 0.0, batch_size: int = 150,
) -> int:
    """Ingest the simulated fleet, shuffled with duplicates, in small batches, the read
    model's clock advancing from ``start`` to the middle of the simulated span (so that
    it is kept with edges that start and end after its clock); returns the last instant
    it was kept at."""
    messages, _ = simulated_messages(config)
    rng = random.Random(order_seed)
    messages += rng.sample(messages, len(messages) // 5)
    rng.shuffle(messages)
    sink = MaintainingStoreSink(store, clock, every_s=every_s, pace=0.0)
    pipeline = Pipeline.for_fleet(sink, DeadLetterList(), clock=lambda: END_US,
                                  ingest=IngestSettings(batch_size=batch_size, dedup_window_s=60.0))
    step = (config.end_time_us - start) // 2 // max(1, len(messages))
    clock.now = start

    def advance() -> None:
        clock.now += step

    run_embedded(pipeline, lambda: messages, on_message=advance)
    sink.catch_up()
    assert sink.maintainer.recomputed > 0
    return clock.now


def boundaries(store: GraphStore, after: int) -> list[int]:
    """Instants after ``after`` where an allocation or fault interval starts or ends."""
    found: set[int] = set()
    gpus = [r.id for r in store.scan_nodes("gpu", None, 100_000).records]
    parts = [r.id for t in ("site", "gpu", "server", "rack", "cdu", "power_shelf", "switch")
             for r in store.scan_nodes(t, None, 100_000).records]
    for edge_type, ids, direction in (("allocated", gpus, Direction.IN),
                                      ("had_fault", parts, Direction.OUT)):
        for edges in store.neighbours(edge_type, ids, direction).values():
            for e in edges:
                for bound in (e.props.get("valid_from"), e.props.get("valid_to")):
                    if isinstance(bound, int) and bound > after:
                        found.add(bound)
    return sorted(found)


def query_times(store: GraphStore, last: int, light: bool = False) -> list[int]:
    """The instant of the last write, some before it, and around interval ends after it
    (``light``: fewer)."""
    later = boundaries(store, last)
    picks = later[:: max(1, len(later) // 4)][: 2 if light else 4]
    times = {last, last + MIN} if light else {last, last - 30 * MIN, last + MIN, last + 48 * H}
    for b in picks:
        times |= {b, b + 1} if light else {b - 1, b, b + 1}
    return sorted(times)


class Counting(DelegatingStore):
    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner)
        self.reads: list[str] = []
        self.sites_read: set[str] = set()  # site nodes asked of get_nodes

    def get_nodes(self, ids: Sequence[str]) -> dict[str, NodeRecord]:
        self.sites_read.update(i for i in ids if i.startswith("site:"))
        return super().get_nodes(ids)

    def before(self, method: str, *details: object) -> None:
        self.reads.append(f"{method}:{details[0] if details else ''}")


def layout_2(rows: dict[str, str]) -> dict[str, str]:
    """The rows as the layout before the site properties wrote them."""
    older: dict[str, str] = {}
    for key, text in rows.items():
        state = SiteState.decode(key, text)
        if state is not None:
            older[key] = ",".join(["2", *text.split(",")[1:6]])
    return older


def check_every_layout(store: GraphStore, last: int, light: bool = False) -> int:
    """check_equal_to_the_reference with the rows as kept (the directory), without the
    directory mark, then in layout 2 without the mark and with it (``light``: those
    at the last write's instant only); the rows as kept at the end. Returns what the
    rows as kept served without computing any site."""
    kept = store.get_read_models(SITE_STATE)
    assert kept.get(DIRECTORY_KEY) == "3"
    served = check_equal_to_the_reference(store, last, light)
    store.put_read_models(SITE_STATE, {DIRECTORY_KEY: None})
    check_equal_to_the_reference(store, last, light=True, once=light)
    store.put_read_models(SITE_STATE, layout_2(kept))
    check_equal_to_the_reference(store, last, light=True, once=light)
    store.put_read_models(SITE_STATE, {DIRECTORY_KEY: "3"})
    check_equal_to_the_reference(store, last, light=True, bare=True, once=light)
    store.put_read_models(SITE_STATE, kept)
    return served


def check_equal_to_the_reference(
    store: GraphStore, last: int, light: bool = False, bare: bool = False, once: bool = False
) -> int:
    """Every request at every query time; returns how many (request, time) pairs the
    read model served without computing any site (with the directory mark and rows of
    layout 3, not ``bare``: without reading a site node either)."""
    served = 0
    listed = DIRECTORY_KEY in store.get_read_models(SITE_STATE, [DIRECTORY_KEY])
    for now in [last] if once else query_times(store, last, light):
        for request in requests(store)[: 3 if light else None]:
            # the whole ranking, cut here: the bounded heap is checked against a sort
            expected = placement_reference(store, replace(request, at_us=now, first=None),
                                           now)
            counting = Counting(store)
            got = placement(counting, request, now)
            if request.first is not None:
                del expected.candidates[request.first:]
            if request.servers_for is not None:  # the others are listed without servers
                keep = request.servers_for
                expected.candidates[keep:] = [replace(c, servers=()) for c in
                                              expected.candidates[keep:]]
            assert got == expected, (now, request)
            assert ("scan_nodes:site" in counting.reads) != listed
            if request.model_id == "model:not-in-the-graph":
                assert any("not in the graph" in w for w in got.warnings)
            if request.allowed_jurisdictions and "mars" in request.allowed_jurisdictions:
                assert "no site has jurisdiction 'mars'" in got.warnings
            served += "neighbours:in_site" not in counting.reads
            if listed and not bare and "neighbours:in_site" not in counting.reads:
                assert not counting.sites_read, "the site properties come from the rows"
    return served


FLEETS = [
    SimulationConfig(seed=3, sites=3, hours=4.0, end_time_us=END_US, jobs_per_site_per_hour=8.0,
                     telemetry_interval_s=1800, cdu_fault_rate=4.0, power_shelf_fault_rate=4.0,
                     staged_cdu_faults=2, rack_moves=1, reorder_rate=0.2),
    SimulationConfig(seed=41, sites=2, hours=8.0, end_time_us=END_US, jobs_per_site_per_hour=4.0,
                     telemetry_interval_s=1800, cdu_fault_rate=1.0, power_shelf_fault_rate=6.0,
                     staged_cdu_faults=3, rack_moves=2, reorder_rate=0.3),
]


@pytest.mark.parametrize(("config", "order_seed", "every_s"),
                         [(FLEETS[0], 1, 0.0), (FLEETS[1], 7, 0.0), (FLEETS[1], 8, 1e9)])
def test_read_model_placement_equals_the_reference_embedded(
    config: SimulationConfig, order_seed: int, every_s: float
) -> None:
    """every_s 0: every batch recomputes the sites it touched; 1e9: deletes their rows,
    and the end of the run recomputes them."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    store = SQLiteGraphStore(FLEET, ":memory:", clock=lambda: END_US)
    clock = Clock(0)
    start = config.end_time_us - int(config.hours * H)
    last = ingest_keeping_read_models(store, config, order_seed, clock, start, every_s)
    assert check_every_layout(store, last) > 0
    # a rebuild gives the rows the pipeline kept, as of the rebuild's instant
    kept = {k: SiteState.decode(k, v) for k, v in store.get_read_models(SITE_STATE).items()
            if k != DIRECTORY_KEY}
    SiteStateMaintainer(store, Clock(last)).rebuild()
    rebuilt = {k: SiteState.decode(k, v) for k, v in store.get_read_models(SITE_STATE).items()
               if k != DIRECTORY_KEY}
    assert set(rebuilt) == set(kept)
    for site, state in rebuilt.items():
        before = kept[site]
        assert state is not None and before is not None
        if before.holds_at(last):
            assert (state.racks, state.healthy_racks, state.free_gpus, state.props) == (
                before.racks, before.healthy_racks, before.free_gpus, before.props)
    assert check_every_layout(store, last) > 0


@pytest.mark.integration
def test_read_model_placement_equals_the_reference_cassandra(
    store_factory: Callable[[], GraphStore], request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params.get("store_factory") != "cassandra":
        pytest.skip("the embedded backend has its own test above")
    store = store_factory()
    clock = Clock(0)
    config = FLEETS[0]
    start = config.end_time_us - int(config.hours * H)
    last = ingest_keeping_read_models(store, config, 5, clock, start, batch_size=1000)
    assert check_every_layout(store, last, light=True) > 0


def test_the_pipeline_recomputes_only_touched_sites() -> None:
    """A batch with one allocation recomputes that GPU's site only (a cheap check that
    the dirty-site walk follows gpu -> server -> rack -> site)."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.graph_model.records import NodeUpsert, Provenance
    from fleetgraph.storage.embedded import SQLiteGraphStore

    store = SQLiteGraphStore(FLEET, ":memory:", clock=lambda: END_US)
    prov = Provenance("e", "t", END_US - H, "test")
    t = END_US - H
    nodes = [NodeUpsert("site", s, {"jurisdiction": "de"}, t, prov) for s in ("site:a", "site:b")]
    edges = []
    for s in ("a", "b"):
        edges += [
            EdgeUpsert("in_site", f"rack:{s}-r1", f"site:{s}", {"valid_from": t}, t, prov),
            EdgeUpsert("in_rack", f"server:{s}-n1", f"rack:{s}-r1", {"valid_from": t}, t, prov),
            EdgeUpsert("in_server", f"gpu:{s}-g1", f"server:{s}-n1", {"valid_from": t}, t, prov),
        ]
    clock = Clock(END_US)
    sink = MaintainingStoreSink(store, clock, every_s=0.0, pace=0.0)
    sink.write([*nodes, *edges])
    assert sink.maintainer.recomputed == 2
    job = EdgeUpsert("allocated", "job:j1", "gpu:b-g1",
                     {"valid_from": t, "valid_to": END_US + H}, t, prov)
    sink.write([job])
    assert sink.maintainer.recomputed == 3
    rows = {k: SiteState.decode(k, v) for k, v in store.get_read_models(SITE_STATE).items()}
    a, b = rows["site:a"], rows["site:b"]
    assert a is not None and b is not None
    assert (a.free_gpus, b.free_gpus) == (1, 0)
    assert b.valid_until_us == END_US + H and a.valid_until_us is None
    assert placement(store, PlacementRequest(1), END_US) == placement_reference(
        store, PlacementRequest(1, at_us=END_US), END_US)
    assert placement(store, PlacementRequest(1), END_US + H) == placement_reference(
        store, PlacementRequest(1, at_us=END_US + H), END_US + H)
    # a sink recomputes its first batch at once, then, within every_s, marks the rows
    # unknown (their keys stay: the directory of every site)
    later = MaintainingStoreSink(store, clock, every_s=1e9)
    later.write([EdgeUpsert("allocated", "job:j2", "gpu:a-g1", {"valid_from": t}, t, prov)])
    assert set(store.get_read_models(SITE_STATE)) == {"site:a", "site:b", DIRECTORY_KEY}
    later.write([EdgeUpsert("had_fault", "server:a-n1", "fault:f1", {"valid_from": t}, t, prov)])
    assert store.get_read_models(SITE_STATE)["site:a"] == STALE
    assert placement(store, PlacementRequest(1), END_US).candidates == []
    later.catch_up()
    rows = store.get_read_models(SITE_STATE)
    assert set(rows) == {"site:a", "site:b", DIRECTORY_KEY} and rows["site:a"] != STALE


GRAPHQL = """query ($at: DateTime, $model: ID) {
  placement(request: {gpus: 2, modelId: $model, allowedJurisdictions: ["nowhere", "%s"],
                      at: $at}) {
    at warnings
    top: candidates(first: 2) { siteId score freeGpuCount freeGpus(limit: 3) { serverId gpuIds } }
    all: candidates { siteId score parts { gpu health model data energy region } }
    excluded { siteId freeGpuCount reasons { code detail } } } }"""


def test_graphql_without_at_answers_as_with_at() -> None:
    """Through GraphQL: without ``at`` (the read model; free GPU lists read for the first
    two candidates only) the answer equals the one with ``at`` = now (the definition),
    warnings included."""
    import asyncio

    from fleetgraph.graph_model import FLEET
    from fleetgraph.serving.context import new_context
    from fleetgraph.serving.schema import build_schema
    from fleetgraph.serving.times import to_datetime
    from fleetgraph.storage.embedded import SQLiteGraphStore

    store = SQLiteGraphStore(FLEET, ":memory:", clock=lambda: END_US)
    config = FLEETS[0]
    start = config.end_time_us - int(config.hours * H)
    last = ingest_keeping_read_models(store, config, 3, Clock(0), start)
    jurisdiction = str(store.scan_nodes("site", None, 1).records[0].props.get("jurisdiction"))
    schema = build_schema()
    at = to_datetime(last)
    assert at is not None

    def ask(variables: dict[str, object]) -> object:
        counting = Counting(store)
        result = asyncio.run(schema.execute(GRAPHQL % jurisdiction, variable_values=variables,
                                            context_value=new_context(counting,
                                                                      clock=lambda: last)))
        assert result.errors is None, result.errors
        return result.data, counting.reads

    for model in ("model:not-in-the-graph", None):
        now, reads = ask({"model": model})
        given, _ = ask({"model": model, "at": at.isoformat()})
        assert now == given
        assert "neighbours:in_site" not in reads  # every site from the read model
        assert isinstance(now, dict)
        top = now["placement"]["top"]
        assert top and all(c["freeGpus"] for c in top)  # the lists were read for them
        warnings = now["placement"]["warnings"]
        assert "no site has jurisdiction 'nowhere'" in warnings
        assert any("not in the graph" in w for w in warnings) == (model is not None)
