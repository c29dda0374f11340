"""The ``model_sites`` read model: ``modelHotness(first: k)`` walks a model's sites by a
bound on their score and answers the head of the whole ranking, reading the sites it
needs, not the model's whole history.

* The bound: for random replicas and window ends, every site's score is at most its
  bound (the order the walk relies on).
* Random ``artifact_of`` and ``cached_at`` writes (many artifacts of few models, many
  sites, over 45 days) through the pipeline's sink: for many windows, instants and
  ``first``, the bounded answer equals the whole ranking's head computed from the
  store with every read model hidden (today's path: every interval folded from
  history), with the rows as the sink kept them, after a rebuild, past the live TTL,
  and without rows; the rows kept equal a rebuild's.
* The walk reads fewer artifacts than the model has when its hottest sites are recent.
* A simulated fleet ingested shuffled with duplicates: the same equality (today's path
  is the one the oracle tests check against networkx).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.records import EdgeRecord, EdgeUpsert, Provenance
from fleetgraph.ingest.read_models.maintain import rebuild_read_models
from fleetgraph.ingest.read_models.model_sites import (
    MODEL_SITE_ITEMS,
    MODEL_SITES,
    ModelSites,
    ModelSitesMaintainer,
    bound,
    log2_sum,
    term_log2,
)
from fleetgraph.ingest.read_models.replicas import REPLICAS, TTL_US, Replica
from fleetgraph.serving.queries.hotness import (
    BOUND_MARGIN,
    ModelHeat,
    model_hotness,
    replica_score,
)
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from fleetgraph.storage.delegating import DelegatingStore
from tests.e2e.fleet_run import END_US
from tests.serving.test_replicas_read_model import (
    FLEETS,
    Clock,
    ingest_fleet,
    write_through_sink,
)

H = 3_600_000_000
DAY = 24 * H
MODELS = ["model:big", "model:small", "model:cold"]
SITES = [f"site:s{i:02d}" for i in range(24)]


class Bare(DelegatingStore):
    """The store without any read model: modelHotness folds every interval itself."""

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        return {}


class Counting(DelegatingStore):
    """Counts the items whose replicas a query reads (rows or store), the ranking rows
    read and the sites' rows of pairs read."""

    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner)
        self.items = 0
        self.rankings = 0
        self.sites = 0

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        if model == REPLICAS and keys is not None:
            self.items += len(keys)
        if model == MODEL_SITES:
            self.rankings += 1
        if model == MODEL_SITE_ITEMS and keys is not None:
            self.sites += len(keys)
        return self.inner.get_read_models(model, keys)

    def neighbours(self, edge_type: str, ids: Sequence[str], direction: Direction,
                   window: TimeWindow | None = None) -> dict[str, list[EdgeRecord]]:
        return self.inner.neighbours(edge_type, ids, direction, window)


class NoSiteRows(DelegatingStore):
    """The store without the sites' rows of pairs: the whole answer reads each artifact."""

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        return {} if model == MODEL_SITE_ITEMS else self.inner.get_read_models(model, keys)


def test_a_sites_score_never_exceeds_its_bound() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        end = END_US - rng.randrange(0, 10 * DAY)
        replicas = []
        for _ in range(rng.randrange(1, 6)):
            start = end - rng.randrange(-DAY, 20 * DAY) if rng.random() < 0.9 else None
            props: dict[str, object] = {"tier": rng.choice([0, 1, 2, None, 7])}
            if rng.random() < 0.7:
                props["last_access"] = end - rng.randrange(-2 * DAY, 30 * DAY)
            if rng.random() < 0.7:
                props["hits"] = rng.randrange(10_000)
            replicas.append(Replica("site:s", start, None, props))
        score = math.fsum(replica_score(
            r.props.get("tier"), r.props.get("last_access", r.start), r.props.get("hits"), end)
            for r in replicas)
        level = log2_sum(t for r in replicas if (t := term_log2(r)) is not None)
        # L is ~8e4 (times in half-lives): its rounding moves the bound by ~1e-11
        assert score <= bound(level, end) * (1 + BOUND_MARGIN), (score, replicas)


def random_writes(rng: random.Random, now: int, count: int) -> list[EdgeUpsert]:
    """``artifact_of`` edges (a big model of 40 artifacts, a small one of 3, a cold one
    whose replicas are all old) and ``cached_at`` writes as the pipeline maps them."""
    writes: list[EdgeUpsert] = []
    artifacts: dict[str, str] = {}
    for model, size in (("model:big", 40), ("model:small", 3), ("model:cold", 6)):
        for i in range(size):
            artifact = f"artifact:{model[6:]}-{i:02d}"
            artifacts[artifact] = model
            ts = now - 50 * DAY
            writes.append(EdgeUpsert("artifact_of", artifact, model, {}, ts,
                                     Provenance(f"of{artifact}", "test", ts, "test")))
    names = sorted(artifacts)
    for k in range(count):
        item, site = rng.choice(names), rng.choice(SITES)
        old = artifacts[item] == "model:cold"
        ts = now - rng.randrange(10 * DAY, 45 * DAY) if old else (
            now - rng.randrange(0, 45 * DAY) if rng.random() < 0.3 else
            now - rng.randrange(0, 2 * DAY))
        kind = rng.random()
        props: dict[str, object]
        if kind < 0.4:
            props = {"valid_from": ts, "valid_to": None, "tier": rng.randrange(3),
                     "last_access": ts}
        elif kind < 0.7:
            props = {"last_access": ts, "hits": rng.randrange(200)}
            if rng.random() < 0.2:
                props["tier"] = rng.randrange(3)
        elif kind < 0.85:
            props = {"valid_to": ts}
        elif kind < 0.95:
            props = {"valid_from": ts - rng.randrange(1, 6 * H), "valid_to": ts,
                     "tier": rng.randrange(3)}
        else:
            props = {"valid_from": ts, "valid_to": None}  # no tier: scores 0
        writes.append(EdgeUpsert("cached_at", item, site, props, ts,
                                 Provenance(f"ev{k}", "test", ts, "test")))
    writes += rng.sample(writes, len(writes) // 5)
    rng.shuffle(writes)
    return writes


def windows_for(now: int) -> list[TimeWindow]:
    spans = [TimeWindow(now - DAY, now), TimeWindow(now - 6 * H, now),
             TimeWindow(now - 40 * DAY, now), TimeWindow(None, now),
             TimeWindow(now - 40 * DAY, now - 20 * DAY), TimeWindow(now - H, now + 3 * DAY),
             TimeWindow(now - 3 * DAY, now - 2 * DAY), TimeWindow(None, now - 10 * DAY)]
    rng = random.Random(now)
    for _ in range(6):
        start = now - rng.randrange(0, 46 * DAY)
        spans.append(TimeWindow(start, start + rng.choice([H, DAY, 9 * DAY])))
    return spans


def check_bounded(store: GraphStore, now: int, models: Sequence[str] = MODELS) -> int:
    """Every bounded answer equals the head of the whole ranking without read models;
    returns how many were answered by the walk (a ranking row read and not given up)."""
    walked = 0
    bare = Bare(store)
    for model in models:
        for window in windows_for(now):
            whole = model_hotness(bare, model, window, None, now_us=now)
            assert model_hotness(store, model, window, None, now_us=now) == whole, (
                model, window)  # every site's row of pairs, where they hold
            for first in (1, 2, 3, 5, 100):
                counting = Counting(store)
                got = model_hotness(counting, model, window, first, now_us=now)
                assert got == whole[:first], (model, window, first)
                if counting.rankings and not counting_gave_up(store, model, now, window):
                    walked += 1
    return walked


def counting_gave_up(store: GraphStore, model: str, now: int, window: TimeWindow) -> bool:
    text = store.get_read_models(MODEL_SITES, [model]).get(model)
    row = None if text is None else ModelSites.decode(model, text)
    return row is None or not row.holds_at(now) or window.end is None or not row.bounds_window(
        window.end)


def rankings(store: GraphStore) -> dict[str, ModelSites]:
    found = {}
    for model, text in store.get_read_models(MODEL_SITES).items():
        row = ModelSites.decode(model, text)
        assert row is not None
        found[model] = row
    return found


@pytest.mark.parametrize(("seed", "every_s"), [(1, 0.0), (2, 1e9), (3, 0.0)])
def test_bounded_answers_equal_the_whole_ranking_embedded(seed: int, every_s: float) -> None:
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    now = END_US
    clock = Clock(now)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    write_through_sink(store, random_writes(random.Random(seed), now, 900), clock, every_s)
    kept = rankings(store)
    assert set(kept) == set(MODELS)
    assert check_bounded(store, now) > 0  # the rows as the sink kept them
    clock.now = now + H
    assert check_bounded(store, clock.now) > 0
    ModelSitesMaintainer(store, clock).rebuild()  # the rows kept equal a rebuild's
    for model, row in rankings(store).items():
        assert row.sites == kept[model].sites, model
    clock.now = now + TTL_US + 2 * DAY  # every live edge expired: the rows stop holding
    check_bounded(store, clock.now)
    rebuild_read_models(store, clock)
    assert check_bounded(store, clock.now) > 0
    clock.now = now  # rows computed later do not hold earlier
    assert check_bounded(store, now) == 0
    store.put_read_models(MODEL_SITE_ITEMS, dict.fromkeys(
        store.get_read_models(MODEL_SITE_ITEMS)))  # a ranking without its sites: given up
    clock.now = now + TTL_US + 2 * DAY
    check_bounded(store, clock.now)
    store.put_read_models(MODEL_SITES, dict.fromkeys(store.get_read_models(MODEL_SITES)))
    assert check_bounded(store, clock.now) == 0


def wide_model(now: int, artifacts: int, recent: int, old_age: int) -> list[EdgeUpsert]:
    """``model:wide``: an artifact a site, live; the first ``recent`` accessed half an
    hour before ``now``, the others ``old_age`` before it."""
    writes = []
    for i in range(artifacts):
        artifact, site = f"artifact:w{i:03d}", f"site:t{i:03d}"
        ts = now - (H // 2 if i < recent else old_age) - i * 1000
        writes.append(EdgeUpsert("artifact_of", artifact, "model:wide", {}, ts,
                                 Provenance(f"o{i}", "test", ts, "test")))
        writes.append(EdgeUpsert("cached_at", artifact, site, {
            "valid_from": ts, "valid_to": None, "tier": 0, "last_access": ts, "hits": 5},
            ts, Provenance(f"c{i}", "test", ts, "test")))
    return writes


def test_the_walk_reads_the_page_not_the_models_history() -> None:
    """A model of 200 artifacts, each replicated at its own site; the ten hottest were
    accessed in the last hour, the others days ago: first 3 reads a few sites' rows of
    pairs, and no artifact's row (each holds the artifact's pairs at every site)."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    now = END_US
    clock = Clock(now)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    write_through_sink(store, wide_model(now, 200, 10, 5 * DAY), clock, 0.0, batch=400)
    window = TimeWindow(now - DAY, now)
    counting = Counting(store)
    got = model_hotness(counting, "model:wide", window, 3, now_us=now)
    assert got == model_hotness(Bare(store), "model:wide", window, None, now_us=now)[:3]
    assert [s.site_id for s in got] == ["site:t000", "site:t001", "site:t002"]
    assert counting.rankings == 1 and counting.sites < 20 and counting.items == 0, (
        counting.sites, counting.items)
    counting = Counting(store)
    model_hotness(counting, "model:wide", window, None, now_us=now)  # the whole answer:
    assert counting.sites == 200 and counting.items == 0  # every site's row, no artifact's
    counting = Counting(NoSiteRows(store))
    model_hotness(counting, "model:wide", window, None, now_us=now)  # without them
    assert counting.items == 200


def test_a_site_below_others_by_bound_can_still_rank_first() -> None:
    """Seven sites whose bound is twice their score (a second replica, evicted before
    the window, as hot) come before a site whose score is its bound, 0.75 of theirs
    but 1.5 times their scores: the walk reads on past them and ranks it first."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    now = END_US
    clock = Clock(now)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    writes = []

    def replica(artifact: str, site: str, props: dict[str, object], k: int) -> None:
        ts = now - 3 * DAY
        writes.append(EdgeUpsert("artifact_of", artifact, "model:decoy", {}, ts,
                                 Provenance(f"o{k}", "test", ts, "test")))
        writes.append(EdgeUpsert("cached_at", artifact, site, {"tier": 0, **props}, ts,
                                 Provenance(f"c{k}", "test", ts, "test")))

    for i in range(7):  # score 0.5 (6 h since the access), bound 1.0
        replica(f"artifact:x{i}", f"site:x{i}", {"valid_from": now - H, "valid_to": None,
                                                 "last_access": now - 6 * H}, 2 * i)
        replica(f"artifact:z{i}", f"site:x{i}", {"valid_from": now - 3 * DAY,
                                                 "valid_to": now - 2 * DAY,
                                                 "last_access": now - 6 * H}, 2 * i + 1)
    age = round(6 * H * math.log2(4 / 3))  # score and bound 0.75
    replica("artifact:y", "site:y", {"valid_from": now - H, "valid_to": None,
                                     "last_access": now - age}, 99)
    write_through_sink(store, writes, clock, 0.0, batch=100)
    window = TimeWindow(now - DAY, now)
    row = rankings(store)["model:decoy"]
    assert [s for s, _ in row.sites].index("site:y") == 7
    got = model_hotness(store, "model:decoy", window, 1, now_us=now)
    assert [s.site_id for s in got] == ["site:y"]
    assert got == model_hotness(Bare(store), "model:decoy", window, None, now_us=now)[:1]
    assert got[0].score == pytest.approx(0.75)


class FailingMarks(DelegatingStore):
    """Fails the sink's read of an artifact's model (marking a batch) when told to."""

    failing = False

    def neighbour_ids(self, edge_type: str, ids: Sequence[str], direction: Direction, *,
                      recorded_by: int | None = None, window: TimeWindow | None = None
                      ) -> dict[str, list[str]]:
        if self.failing and edge_type == "artifact_of":
            raise RuntimeError("the marks fail")
        return self.inner.neighbour_ids(edge_type, ids, direction, recorded_by=recorded_by,
                                        window=window)


def test_a_sink_whose_marks_fail_deletes_every_ranking() -> None:
    """A batch written whose marks fail cannot say which models it touched: every
    ranking row goes, and the bounded answers stay the whole ranking's head."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    now = END_US
    clock = Clock(now)
    store = FailingMarks(SQLiteGraphStore(FLEET, ":memory:", clock=clock))
    writes = random_writes(random.Random(8), now, 300)
    sink = write_through_sink(store, writes, clock, 1e9)
    assert set(rankings(store)) == set(MODELS)
    store.failing = True
    late = EdgeUpsert("cached_at", "artifact:big-00", "site:s00",
                      {"valid_from": now - H, "valid_to": None, "tier": 0, "hits": 999,
                       "last_access": now - 1}, now - 1,
                      Provenance("late", "test", now - 1, "test"))
    sink.write([late])
    store.failing = False
    assert rankings(store) == {}
    check_bounded(store, now)


@pytest.mark.integration
def test_bounded_answers_equal_the_whole_ranking_cassandra(
    store_factory: Callable[[], GraphStore], request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params.get("store_factory") != "cassandra":
        pytest.skip("the embedded backend has its own test above")
    store = store_factory()
    now = wall_clock_us() // H * H
    write_through_sink(store, random_writes(random.Random(4), now, 500), wall_clock_us, 0.0)
    assert check_bounded(store, wall_clock_us()) > 0
    kept = rankings(store)
    ModelSitesMaintainer(store, wall_clock_us).rebuild()
    for model, row in rankings(store).items():
        assert row.sites == kept[model].sites, model


@pytest.mark.parametrize(("config", "order_seed", "every_s"),
                         [(FLEETS[0], 2, 0.0), (FLEETS[1], 5, 1e9)])
def test_bounded_answers_on_a_simulated_fleet(config: SimulationConfig, order_seed: int,
                                              every_s: float) -> None:
    """The rows the sink kept while ingesting a simulated fleet (shuffled, duplicated)."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    clock = Clock(END_US)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    ingest_fleet(store, config, order_seed, clock, every_s)
    models = [r.id for r in store.scan_nodes("model", None, 50).records]
    assert rankings(store)
    assert check_bounded(store, END_US, models) > 0


# --- placement's model part ------------------------------------------------------------------


class NoModelSites(DelegatingStore):
    """The store without the ``model_sites`` rows: placement reads the whole ranking."""

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        if model in (MODEL_SITES, MODEL_SITE_ITEMS):
            return {}
        return self.inner.get_read_models(model, keys)


@pytest.mark.parametrize(("config", "order_seed"), [(FLEETS[0], 4), (FLEETS[1], 6)])
def test_placement_with_the_model_part_by_bound(config: SimulationConfig,
                                                order_seed: int) -> None:
    """placement at now with ``first`` (the model part exact only for the sites that can
    rank) equals the definition (``placement_reference``: the whole fleet read at now)
    and the read model's path without model_sites rows; without the excluded sites
    listed, the same candidates."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.serving.queries.placement import (
        PlacementRequest,
        placement,
        placement_reference,
    )
    from fleetgraph.storage.embedded import SQLiteGraphStore

    clock = Clock(END_US)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    ingest_fleet(store, config, order_seed, clock, 0.0)
    rebuild_read_models(store, clock)
    models = [r.id for r in store.scan_nodes("model", None, 50).records]
    assert rankings(store)
    datasets = [r.id for r in store.scan_nodes("dataset", None, 2).records]
    jurisdictions = sorted({str(s.props.get("jurisdiction"))
                            for s in store.scan_nodes("site", None, 100).records})
    counting = Counting(store)
    for model in [*models, "model:nowhere"]:
        for gpus in (1, 4, 32):
            for first in (0, 1, 2, 5):
                for extra in ({}, {"dataset_ids": tuple(datasets),
                                   "allowed_jurisdictions": jurisdictions[:1]}):
                    request = PlacementRequest(gpus, model_id=model, first=first,
                                               servers_for=first, **extra)  # type: ignore[arg-type]
                    got = placement(counting, request, END_US)
                    assert got == placement(NoModelSites(store), request, END_US), request
                    whole = placement_reference(store, PlacementRequest(
                        gpus, model_id=model, at_us=END_US, **extra), END_US)  # type: ignore[arg-type]
                    assert got.candidates == whole.candidates[:first], request
                    assert got.excluded == whole.excluded and got.warnings == whole.warnings
                    bare = placement(store, replace(request, excluded=False), END_US)
                    assert bare.candidates == got.candidates and bare.excluded == []
    assert counting.rankings > 0  # the bounded path was taken


class FixedHeat(ModelHeat):
    """Given exact scores and bounds at least as high (no store)."""

    def __init__(self, exact: dict[str, float], bounds: dict[str, float]) -> None:
        self.best = max(exact.values(), default=0.0)
        self.exact = exact
        self.bounds = bounds
        self.asked: list[str] = []

    def bound(self, site_id: str) -> float:
        return self.bounds.get(site_id, 0.0)

    def scores(self, site_ids: Sequence[str]) -> dict[str, float]:
        self.asked += site_ids
        return {s: self.exact.get(s, 0.0) for s in site_ids}


@pytest.mark.parametrize("seed", range(6))
def test_ranking_by_bound_equals_ranking_by_score(seed: int) -> None:
    """200 sites, scores tied and not, bounds from exact to 3 times the score: the best
    ``first`` by bound (exact scores asked of a few) equal the best by exact score."""
    from fleetgraph.ingest.read_models.site_state import SiteProps, SiteState
    from fleetgraph.serving.queries.placement import PlacementRequest, _rank

    rng = random.Random(seed)
    states, exact, bounds = [], {}, {}
    for i in range(200):
        site = f"site:r{i:03d}"
        props = SiteProps(rng.choice(["us", "de"]), rng.choice(["west", "east"]),
                          rng.choice([0.0, 0.25, 0.5]))
        racks = rng.randrange(1, 4)
        states.append(SiteState(site, 0, None, racks, rng.randrange(racks + 1),
                                rng.choice([0, 4, 8, 16, 64]), props))
        if rng.random() < 0.8:
            exact[site] = rng.choice([0.0, 1.0, 2.0, rng.random() * 4])
            bounds[site] = exact[site] * rng.choice([1.0, 1.0, 1.5, 3.0])
    best = max(exact.values())
    for first in (1, 3, 10, 50, 250):
        request = PlacementRequest(8, model_id="model:m", first=first, preferred_region="west")
        heat = FixedHeat(exact, bounds)
        want = _rank(request, states, {s: v / best for s, v in exact.items()}, {})
        got = _rank(request, states, {}, {}, heat)
        assert got == want, first
        if first <= 10:
            assert len(heat.asked) < 100, len(heat.asked)  # a few sites made exact
