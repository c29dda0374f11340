"""placement(first: N) at now from the site order (one row, walked by bounds) equals the
whole ranking's head: the current full computation (``_rank`` over every summary) on
random summaries with ties, and the definition (``placement_reference``: the whole
fleet read at that instant) on simulated fleets ingested shuffled with duplicates
through the pipeline's sink, at instants before, at and after its last write, with
pending sites, after a rebuild and after ``fleetgraph read-models rebuild``, on both
backends. The order path is checked to be the one taken (no read of every
``site_state`` row) and to score fewer sites than the fleet has where it can."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from fleetgraph.graph_model.records import EdgeUpsert, Provenance
from fleetgraph.ingest.read_models.fleet_state import fleet_state
from fleetgraph.ingest.read_models.maintain import MaintainingStoreSink, SiteStateMaintainer
from fleetgraph.ingest.read_models.model_sites import (
    MODEL_SITE_ITEMS,
    ModelSites,
    encode_site_pairs,
    site_items,
    site_key,
)
from fleetgraph.ingest.read_models.replicas import ItemReplicas, Pair, Replica, pair_within
from fleetgraph.ingest.read_models.site_order import (
    INDEX_KEY,
    SITE_ORDER,
    SiteOrder,
    derive_order,
)
from fleetgraph.ingest.read_models.site_state import (
    DIRECTORY_KEY,
    SITE_STATE,
    STALE,
    SiteProps,
    SiteState,
    compute_site_states,
)
from fleetgraph.serving.queries import placement_order
from fleetgraph.serving.queries.placement import (
    PlacementRequest,
    _rank,
    placement,
    placement_reference,
)
from fleetgraph.serving.queries.placement_order import Ask, best_from_order
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import GraphStore, TimeWindow
from fleetgraph.storage.delegating import DelegatingStore
from tests.e2e.fleet_run import END_US
from tests.oracle.test_placement_read_model import (
    Clock,
    ingest_keeping_read_models,
    query_times,
)

H = 3_600_000_000
JURISDICTIONS = ["eu-de", "eu-fr", "us-ca", None]
REGIONS = ["west", "east", "central"]


# --- the walk against the whole ranking, on random summaries ------------------------------


def random_states(rng: random.Random, count: int) -> list[SiteState]:
    """Summaries with few distinct values (ties in every part), some repeated under
    another id."""
    states: list[SiteState] = []
    for i in range(count):
        if states and rng.random() < 0.2:
            twin = rng.choice(states)
            states.append(replace(twin, site_id=f"site:s{i:03d}"))
            continue
        racks = rng.choice([0, 2, 4])
        until = rng.choice([None, 500, 2_000])
        states.append(SiteState(
            f"site:s{i:03d}", rng.choice([10, 100]), until, racks, rng.randint(0, racks),
            rng.choice([0, 3, 8, 16, 64, 200]),
            SiteProps(rng.choice(JURISDICTIONS), rng.choice(REGIONS),
                      rng.choice([0.0, 0.25, 0.5, 1.0, rng.random()]))))
    return states


def rows_of(states: Sequence[SiteState], stale: Sequence[str] = ()) -> dict[str, str]:
    rows = {s.site_id: s.encode() for s in states}
    rows.update(dict.fromkeys(stale, STALE))
    rows[DIRECTORY_KEY] = "3"
    return rows


@pytest.mark.parametrize("extra", [0, placement_order.BATCH_EXTRA])
@pytest.mark.parametrize("seed", range(12))
def test_the_walk_equals_the_whole_ranking(
    seed: int, extra: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``extra`` 0: batches of ``first`` sites per order at first (the stop tested often)."""
    monkeypatch.setattr(placement_order, "BATCH_EXTRA", extra)
    rng = random.Random(seed)
    states = random_states(rng, rng.choice([5, 40, 300]))
    ids = [s.site_id for s in states]
    unknown = rng.sample(ids, len(ids) // 10)
    text = derive_order(rows_of([s for s in states if s.site_id not in unknown], unknown))
    assert text is not None
    order = SiteOrder.decode(text)
    assert order is not None and order.unknown == frozenset(unknown)
    # recomputed: the unknown, some pending (changed since), one no longer a site, one new
    recomputed = sorted({*unknown, *rng.sample(ids, 3), "site:new"})
    gone = rng.choice(recomputed)
    computed = {s: replace(rng.choice(random_states(rng, 1)), site_id=s)
                for s in recomputed if s != gone}
    every = [computed.get(s.site_id, s) for s in states if s.site_id not in recomputed]
    every += [computed[s] for s in recomputed if s in computed]
    every.sort(key=lambda s: s.site_id)
    for _ in range(40):
        gpus = rng.choice([1, 4, 8, 32, 64])
        model = {s: rng.choice([0.0, 0.5, 1.0, rng.random()])
                 for s in rng.sample(ids, len(ids) // 3)}
        data = {s: rng.choice([0.5, 1.0]) for s in rng.sample(ids, len(ids) // 8)}
        allowed = rng.choice([None, frozenset(["eu-de", "eu-fr"]), frozenset(["us-ca"])])
        preferred = rng.choice([None, "west", "nowhere"])
        first = rng.choice([0, 1, 2, 5, 10, len(ids) + 3])
        whole = PlacementRequest(gpus, allowed_jurisdictions=allowed,
                                 preferred_region=preferred, excluded=False)
        expected, _, _ = _rank(whole, every, model, data)
        got, scored = best_from_order(Ask(gpus, first, allowed, preferred), order, recomputed,
                                      computed, model, data, None)
        assert [(-n, s, c, p) for n, s, c, p in got] == [
            (c.score, c.site_id, c.free_gpus, tuple(vars_of(c.parts))) for c in
            expected[:first]], (seed, gpus, first)
        assert scored <= len(order.states) + len(recomputed)


class Heat:
    """A model's heat as placement reads it (``ModelHeat``): exact scores, bounds at or
    above them (the row's order), the sites asked for exact scores counted."""

    def __init__(self, exact: dict[str, float], slack: dict[str, float]) -> None:
        self.exact = exact
        self.best = max(exact.values(), default=0.0)
        self.bounds = {s: v * slack[s] + slack[s] - 1 for s, v in exact.items()}
        self.row = SimpleNamespace(sites=tuple(
            (s, None) for s in sorted(self.bounds, key=lambda s: (-self.bounds[s], s))))
        self.asked = 0

    def bound(self, site_id: str) -> float:
        return self.bounds.get(site_id, 0.0)

    def scores(self, site_ids: Sequence[str]) -> dict[str, float]:
        self.asked += len(site_ids)
        return {s: self.exact.get(s, 0.0) for s in site_ids}


@pytest.mark.parametrize("extra", [0, placement_order.BATCH_EXTRA])
@pytest.mark.parametrize("seed", range(8))
def test_the_walk_by_model_bounds_equals_the_whole_ranking(
    seed: int, extra: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a model's bounds (a model_sites row): the same head as the whole ranking of
    the exact parts; far fewer exact scores asked than sites on a big fleet."""
    monkeypatch.setattr(placement_order, "BATCH_EXTRA", extra)
    rng = random.Random(100 + seed)
    states = random_states(rng, rng.choice([30, 300]))
    ids = [s.site_id for s in states]
    text = derive_order(rows_of(states))
    assert text is not None
    order = SiteOrder.decode(text)
    assert order is not None
    for _ in range(30):
        hot = rng.sample(ids, rng.randint(0, len(ids) // 2))
        exact = {s: rng.choice([0.0, 1.0, 2.0, rng.random() * 3]) for s in hot}
        heat = Heat(exact, {s: rng.choice([1.0, 1.0, 1.5, 4.0]) for s in hot})
        gpus = rng.choice([1, 8, 64])
        first = rng.choice([0, 1, 3, 10])
        allowed = rng.choice([None, frozenset(["eu-de", "us-ca"])])
        preferred = rng.choice([None, "east"])
        whole = PlacementRequest(gpus, allowed_jurisdictions=allowed,
                                 preferred_region=preferred, excluded=False)
        parts = {s: v / heat.best for s, v in exact.items()} if heat.best > 0 else {}
        expected, _, _ = _rank(whole, states, parts, {})
        got, _ = best_from_order(Ask(gpus, first, allowed, preferred), order, [], {}, {}, {},
                                 heat)  # type: ignore[arg-type]
        assert [(-n, s, c, p) for n, s, c, p in got] == [
            (c.score, c.site_id, c.free_gpus, tuple(vars_of(c.parts))) for c in
            expected[:first]], (seed, gpus, first)
        if len(ids) == 300 and first == 1 and allowed is None:
            assert heat.asked < 150


def vars_of(parts: object) -> list[float]:
    return [getattr(parts, n) for n in ("gpu", "health", "model", "data", "energy", "region")]


def test_the_walk_stops_early_on_a_big_fleet() -> None:
    """1000 sites, the best 10 for a small job: far fewer sites scored than the fleet."""
    rng = random.Random(5)
    states = random_states(rng, 1000)
    text = derive_order(rows_of(states))
    assert text is not None
    order = SiteOrder.decode(text)
    assert order is not None
    best, scored = best_from_order(Ask(8, 10, None, None), order, [], {}, {}, {}, None)
    assert len(best) == 10 and scored < 200


def test_an_order_without_the_directory_mark_is_none() -> None:
    rows = rows_of(random_states(random.Random(1), 3))
    del rows[DIRECTORY_KEY]
    assert derive_order(rows) is None
    assert SiteOrder.decode("[0,[],[]]") is None and SiteOrder.decode("not json") is None


# --- placement on simulated fleets, through the pipeline's sink -----------------------------


class Reads(DelegatingStore):
    """The read models read, and whether every site_state row was."""

    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner)
        self.every_row = False
        self.computed_sites = False
        self.heat = False  # a model part made exact from the model_sites rows

    def before(self, method: str, *details: object) -> None:
        if method == "get_read_models" and details[0] == SITE_STATE and details[1] is None:
            self.every_row = True
        if method == "get_read_models" and details[0] == MODEL_SITE_ITEMS:
            self.heat = True
        if method == "neighbours" and details and details[0] == "in_site":
            self.computed_sites = True


def requests(store: GraphStore, rng: random.Random) -> list[PlacementRequest]:
    models = [r.id for r in store.scan_nodes("model", None, 5).records]
    datasets = [r.id for r in store.scan_nodes("dataset", None, 5).records]
    sites = store.scan_nodes("site", None, 100).records
    jurisdictions = sorted({str(s.props.get("jurisdiction")) for s in sites})
    regions = sorted({str(s.props.get("region")) for s in sites})
    found: list[PlacementRequest] = []
    for _ in range(8):
        found.append(PlacementRequest(
            rng.choice([1, 2, 4, 8, 64]),
            model_id=rng.choice([None, "model:not-in-the-graph", *models]),
            dataset_ids=tuple(rng.sample(datasets, rng.randint(0, min(2, len(datasets))))),
            allowed_jurisdictions=rng.choice(
                [None, frozenset([*jurisdictions[:1], "mars"]), frozenset()]),
            preferred_region=rng.choice([None, *regions]),
            servers_for=rng.choice([None, 0, 1]),
            first=rng.choice([0, 1, 2, 3, 10]), excluded=False))
    return found


def check_against_the_reference(store: GraphStore, times: list[int], seed: int
                                ) -> tuple[int, int]:
    """Every request at every time: the order's answer equals the reference's head and
    today's answer with the excluded sites; returns the answers that read no site's
    topology (every summary from the order), and those that made a model part exact from
    the model_sites rows. Before the order's latest summary (a past
    the store has not reached) placement reads every row instead."""
    rng = random.Random(seed)
    served = heated = 0
    order = SiteOrder.decode(store.get_read_models(SITE_ORDER)[INDEX_KEY])
    assert order is not None
    for now in times:
        for request in requests(store, rng):
            reads = Reads(store)
            got = placement(reads, request, now)
            assert reads.every_row == (now < order.latest_computed_us), now
            served += not reads.computed_sites
            heated += reads.heat
            expected = placement_reference(store, replace(request, at_us=now, first=None), now)
            assert request.first is not None
            del expected.candidates[request.first:]
            if request.servers_for is not None:
                keep = request.servers_for
                expected.candidates[keep:] = [replace(c, servers=()) for c in
                                              expected.candidates[keep:]]
            assert got == replace(expected, excluded=[]), (now, request)
            today = placement(store, replace(request, excluded=True), now)
            assert got == replace(today, excluded=[])
    return served, heated


def check_the_order_is_derived(store: GraphStore) -> None:
    """The order row equals the one derived from the rows now (none pending)."""
    rows = store.get_read_models(SITE_ORDER)
    assert rows.pop(INDEX_KEY) == derive_order(store.get_read_models(SITE_STATE))
    assert rows == {}


FLEETS = [
    SimulationConfig(seed=11, sites=8, hours=3.0, end_time_us=END_US, jobs_per_site_per_hour=6.0,
                     telemetry_interval_s=1800, cdu_fault_rate=4.0, power_shelf_fault_rate=4.0,
                     staged_cdu_faults=2, rack_moves=1, reorder_rate=0.2),
    SimulationConfig(seed=41, sites=3, hours=6.0, end_time_us=END_US, jobs_per_site_per_hour=4.0,
                     telemetry_interval_s=1800, cdu_fault_rate=1.0, power_shelf_fault_rate=6.0,
                     staged_cdu_faults=3, rack_moves=2, reorder_rate=0.3),
]


def pending_batch(store: GraphStore, clock: Clock) -> None:
    """A sink that recomputes its first batch (a free GPU of the last site allocated)
    and only marks the next (a healthy rack of the first site in fault): that site
    pending, its summary in the order changed since."""
    sites = store.node_ids("site")
    free = compute_site_states(store, sites, clock.now)
    gpu = next(g for c in free.values() for gs in c.free.values() for g in gs)
    state = fleet_state(store, sites, clock.now)
    rack = next(r for s in sites for r in state.contents(s, "rack") if state.is_healthy(r))
    prov = Provenance("e", "t", clock.now, "test")
    sink = MaintainingStoreSink(store, clock, every_s=1e9)
    sink.write([EdgeUpsert("allocated", "job:extra", gpu, {"valid_from": clock.now - H},
                           clock.now, prov)])
    sink.write([EdgeUpsert("had_fault", rack, "fault:extra",
                           {"valid_from": clock.now - H, "valid_to": clock.now + H},
                           clock.now, prov)])
    pending = set(store.get_read_models(SITE_ORDER)) - {INDEX_KEY}
    assert pending and pending != set(sites), "a site is pending"
    changed = compute_site_states(store, sorted(pending), clock.now)
    order = SiteOrder.decode(store.get_read_models(SITE_ORDER)[INDEX_KEY])
    assert order is not None
    assert any(order.states[s].healthy_racks != c.state.healthy_racks
               for s, c in changed.items())


def run_fleet(store: GraphStore, config: SimulationConfig, order_seed: int, every_s: float,
              light: bool = False) -> None:
    clock = Clock(0)
    start = config.end_time_us - int(config.hours * H)
    last = ingest_keeping_read_models(store, config, order_seed, clock, start, every_s,
                                      batch_size=1000 if light else 150)
    check_the_order_is_derived(store)
    times = query_times(store, last, light)
    served, heated = check_against_the_reference(store, times, order_seed)
    assert served > 0 and heated > 0
    pending_batch(store, Clock(last))
    check_against_the_reference(store, [last, last + 1], order_seed + 1)
    SiteStateMaintainer(store, Clock(last)).rebuild()
    check_the_order_is_derived(store)
    assert check_against_the_reference(store, [last], order_seed + 2)[0] > 0


@pytest.mark.parametrize(("config", "order_seed", "every_s"),
                         [(FLEETS[0], 1, 0.0), (FLEETS[0], 2, 1e9), (FLEETS[1], 7, 0.0)])
def test_the_order_answers_as_the_reference_embedded(
    config: SimulationConfig, order_seed: int, every_s: float
) -> None:
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    run_fleet(SQLiteGraphStore(FLEET, ":memory:", clock=lambda: END_US), config, order_seed,
              every_s)


@pytest.mark.integration
def test_the_order_answers_as_the_reference_cassandra(
    store_factory: Callable[[], GraphStore], request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params.get("store_factory") != "cassandra":
        pytest.skip("the embedded backend has its own test above")
    run_fleet(store_factory(), FLEETS[0], 5, 0.0, light=True)


def test_read_models_rebuild_makes_the_order(tmp_path: Path) -> None:
    """`fleetgraph read-models rebuild --only site-state` writes the order again."""
    from fleetgraph.cli.main import cli
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    simulated = runner.invoke(cli, [*data, "simulate", "--sites", "3", "--hours", "2"])
    assert simulated.exit_code == 0, simulated.output
    assert runner.invoke(cli, [*data, "ingest", "--fresh"]).exit_code == 0
    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    store.put_read_models(SITE_ORDER, dict.fromkeys(store.get_read_models(SITE_ORDER)))
    assert store.get_read_models(SITE_ORDER) == {}
    rebuilt = runner.invoke(cli, [*data, "read-models", "rebuild", "--only", "site-state"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "site_order written" in rebuilt.output
    check_the_order_is_derived(store)
    order = SiteOrder.decode(store.get_read_models(SITE_ORDER)[INDEX_KEY])
    assert order is not None and len(order.states) == 3 and not order.unknown
    store.close()


# --- the replicas of a few sites (placement's model part reads those of the sites met) ---


@pytest.mark.parametrize("seed", range(6))
def test_a_sites_pairs_give_the_row_s_replicas_at_that_site(seed: int) -> None:
    """A ``model_site_items`` row carries each artifact's pair at the site: decoded, the
    pairs are the artifact rows' own, and each gives, for any window, the whole row's
    replicas at its site (``pair_within``), or says it cannot tell where the row does."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    rng = random.Random(seed)

    def point() -> int | None:
        return rng.choice([None, rng.randint(0, 100)])

    rows = []
    for a in range(4):
        pairs = []
        for i in sorted(rng.sample(range(12), 6)):
            site = f"site:s{i:02d}"
            intervals = tuple(sorted((Replica(site, point(), point(), {"tier": 0, "hits": a})
                                      for _ in range(rng.randint(1, 3))),
                                     key=lambda r: (r.start or 0)))
            live = rng.choice([None, (point(), point())])
            alone = rng.choice([None, Replica(site, point(), point(), {})])
            pairs.append(Pair(site, intervals, live, alone))
        rows.append(ItemReplicas(f"artifact:a{a}", 0, None, tuple(pairs)))
    stamp = 7
    ranking = ModelSites("model:m", stamp, None, None, ())
    store = SQLiteGraphStore(FLEET, ":memory:")
    sites = sorted({p.site_id for row in rows for p in row.pairs})
    store.put_read_models(MODEL_SITE_ITEMS, {
        site_key("model:m", site): encode_site_pairs(stamp, [
            (row.item_id, p) for row in rows for p in row.pairs if p.site_id == site])
        for site in sites})
    held = site_items(store, ranking, sites)
    assert held is not None
    for site in sites:
        assert held[site] == [(row.item_id, p) for row in rows for p in row.pairs
                              if p.site_id == site]
    for _ in range(40):
        window = TimeWindow(point(), point())
        for row in rows:
            whole = row.within(window)
            told = True
            for pair in row.pairs:
                found: list[Replica] = []
                told &= pair_within(pair, window.start, window.end, found)
                if whole is not None:
                    assert found == [r for r in whole if r.site_id == pair.site_id]
            assert told == (whole is not None)
    assert site_items(store, replace(ranking, computed_at_us=stamp + 1), sites) is None
    store.put_read_models(MODEL_SITE_ITEMS, {site_key("model:m", sites[0]): "[7,[]]"})
    assert site_items(store, ranking, sites) is None  # the first layout: ids alone
    store.close()
