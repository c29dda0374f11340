"""The ``residency`` read model (per dataset, its places and their counts per
jurisdiction) makes dataResidencySummary and dataResidency's whole answer answer as the
walk does (the reference: the same query with the rows hidden), and as the networkx
reference (``bench/reference/audit.data_residency`` over the same events) places them.

* Random simulated fleets ingested in a shuffled order with duplicates through the
  pipeline's sink that keeps the rows (recomputing at every batch, or only at the end):
  every page of every dataset (violations only or all places, several page sizes, with
  chunks of 3 places so that pages span chunks) and every count equal the walk's, on
  both backends; the rows kept equal a rebuild.
* Then more writes through a sink that does not recompute (new placed jobs reading
  items of one dataset's lineage, their products, derivations, replicas; then those
  products held and read, found only through ``produced``; a site's new jurisdiction):
  the rows of the datasets they touched are gone, the others' still hold and still
  equal the walk; recomputed (edited from the rows deleted, except after the
  jurisdiction: whole), all equal it again. Recomputed at every batch, most rows are
  edits of the rows before; the rows kept equal a rebuild's.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.bench.reference import audit as oracle_audit
from fleetgraph.bench.reference.graph import build_graph
from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
from fleetgraph.ingest.read_models import residency as model
from fleetgraph.ingest.read_models.maintain import MaintainingStoreSink
from fleetgraph.ingest.read_models.residency import (
    RESIDENCY,
    RESIDENCY_PLACES,
    Change,
    ResidencyMaintainer,
    decoded_header,
)
from fleetgraph.schemas.codec import load_event_codec
from fleetgraph.serving.queries.residency import data_residency, residency_summary
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from fleetgraph.storage.delegating import DelegatingStore
from tests.e2e.fleet_run import END_US, simulated_messages
from tests.serving.test_replicas_read_model import FLEETS, Clock, H, ingest_fleet


class Hidden(DelegatingStore):
    """The store without the residency rows: the summary walks (the reference)."""

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        if model in (RESIDENCY, RESIDENCY_PLACES):
            return {}
        return self.inner.get_read_models(model, keys)


class Walking(DelegatingStore):
    """Counts the walks (a ``read`` in from the dataset's level)."""

    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner)
        self.walks = 0

    def neighbour_ids(self, edge_type: str, ids: Sequence[str], direction: Direction, *,
                      recorded_by: int | None = None, window: TimeWindow | None = None
                      ) -> dict[str, list[str]]:
        if edge_type == "read" and direction is Direction.IN:
            self.walks += 1
        return self.inner.neighbour_ids(edge_type, ids, direction, recorded_by=recorded_by,
                                        window=window)


def datasets_of(store: GraphStore) -> list[str]:
    return [r.id for r in store.scan_nodes("dataset", None, 1000).records]


def allowed_sets(store: GraphStore) -> list[list[str]]:
    names = sorted({str(s.props.get("jurisdiction"))
                    for s in store.scan_nodes("site", None, 1000).records})
    return [[], names[:1], names[1:]]


def check_summaries(store: GraphStore, now: int, datasets: list[str]) -> set[str]:
    """Every page and count of every dataset, and its whole answer, through the rows
    equals the walk's; returns the datasets the rows answered (without a walk)."""
    hidden = Hidden(store)
    answered: set[str] = set()
    for dataset in datasets:
        for allowed in allowed_sets(store):
            for violations_only in (True, False):
                for first in (1, 4, 1000):
                    after = None
                    for _ in range(10_000):
                        walking = Walking(store)
                        got = residency_summary(walking, dataset, allowed, first, after,
                                                violations_only, now_us=now)
                        assert got == residency_summary(hidden, dataset, allowed, first,
                                                        after, violations_only, now_us=now), (
                            dataset, allowed, violations_only, first, after)
                        if walking.walks == 0:
                            answered.add(dataset)
                        after = got.next_after
                        if after is None:
                            break
    return answered & check_whole(store, now, datasets)


def check_whole(store: GraphStore, now: int, datasets: list[str]) -> set[str]:
    """dataResidency's whole answer (every place, the items, the held spans) through the
    rows equals the walk's; returns the datasets the rows answered."""
    hidden = Hidden(store)
    answered: set[str] = set()
    for dataset in datasets:
        for allowed in allowed_sets(store):
            walking = Walking(store)
            got = data_residency(walking, dataset, allowed, now_us=now)
            assert got == data_residency(hidden, dataset, allowed, now_us=now), (
                dataset, allowed)
            if walking.walks == 0:
                answered.add(dataset)
    return answered


def check_networkx(store: GraphStore, config: SimulationConfig, datasets: list[str],
                   now: int) -> int:
    """All places (one page of 1000 at a time) and the counts equal the networkx
    reference's over the same events; returns how many places were compared."""
    messages, defects = simulated_messages(config)
    codec = load_event_codec()
    graph = build_graph([(m.topic, codec.decode(m.payload)[1]) for m in messages
                         if m.source not in defects])
    compared = 0
    for dataset in datasets:
        for allowed in allowed_sets(store):
            expected = oracle_audit.data_residency(graph, dataset, allowed)
            pages: list[dict[str, Any]] = []
            after = None
            while True:
                got = residency_summary(store, dataset, allowed, 1000, after, False,
                                        now_us=now)
                pages += [{"item": p.item_id, "site": p.site_id,
                           "jurisdiction": p.jurisdiction, "jobs": p.jobs, "held": p.held}
                          for p in got.page]
                after = got.next_after
                if after is None:
                    break
            assert pages == expected["places"], dataset
            whole = data_residency(store, dataset, allowed, now_us=now)
            assert [{"item": p.item_id, "site": p.site_id, "jurisdiction": p.jurisdiction,
                     "jobs": p.jobs, "held": p.held} for p in whole.violations] == (
                expected["violations"]), dataset
            assert got.place_count == len(expected["places"])
            assert got.violation_count == len(expected["violations"])
            assert sum(j.processed for j in got.jurisdictions) == sum(
                1 for p in expected["places"] if p["jobs"])
            compared += len(pages)
    return compared


def headers(store: GraphStore) -> dict[str, tuple[Any, ...]]:
    """The headers without their time of computation."""
    found = {}
    for dataset, text in store.get_read_models(RESIDENCY).items():
        header = decoded_header(dataset, text)
        assert header is not None
        found[dataset] = (header.generation, header.item_count, header.jurisdictions,
                          header.chunk_firsts, header.chunk_counts)
    return found


def prov(key: str, t: int) -> Provenance:
    return Provenance(key, "test", t, "test")


def more_writes(store: GraphStore, rng: random.Random, now: int) -> list[Upsert]:
    """Reads by new placed jobs of items of one dataset's lineage, their products (one
    in two derived from such an item too), replicas of such items."""
    items = data_residency(store, datasets_of(store)[0], [], now_us=now).items
    sites = [r.id for r in store.scan_nodes("site", None, 100).records]
    writes: list[Upsert] = []
    for k in range(4):
        job, made, t = f"job:later{k}", f"artifact:later{k}", now - H + k
        writes += [NodeUpsert("job", job, {"site_id": rng.choice(sites)}, t, prov(job, t)),
                   EdgeUpsert("read", job, rng.choice(items), {"at": t}, t, prov(job, t)),
                   EdgeUpsert("produced", job, made, {"at": t}, t, prov(job, t)),
                   EdgeUpsert("cached_at", rng.choice(items), rng.choice(sites),
                              {"valid_from": t, "tier": 1}, t, prov(job, t))]
        if k % 2:
            writes.append(EdgeUpsert("derived_from", made, rng.choice(items), {}, t,
                                     prov(job, t)))
    return writes


def products_used(store: GraphStore, rng: random.Random, now: int) -> list[Upsert]:
    """The products of :func:`more_writes` not derived from anything, held at a site and
    read by new placed jobs: only the walk up through ``produced`` finds the dataset."""
    sites = [r.id for r in store.scan_nodes("site", None, 100).records]
    writes: list[Upsert] = []
    for k in (0, 2):
        job, made, t = f"job:after{k}", f"artifact:later{k}", now - H // 2 + k
        writes += [NodeUpsert("job", job, {"site_id": rng.choice(sites)}, t, prov(job, t)),
                   EdgeUpsert("read", job, made, {"at": t}, t, prov(job, t)),
                   EdgeUpsert("cached_at", made, rng.choice(sites), {"valid_from": t}, t,
                              prov(job, t))]
    return writes


def check_later_writes(store: GraphStore, clock: Clock, seed: int) -> None:
    """Writes through a sink that does not recompute: the rows of the datasets they
    touched are gone, the others' still hold and equal the walk; then recomputed."""
    now = clock()
    datasets = datasets_of(store)
    rng = random.Random(seed)
    sink = idle_sink(store, clock)
    for writes in (more_writes(store, rng, now), products_used(store, rng, now)):
        sink.write(writes)
        untouched = set(headers(store))
        assert datasets[0] not in untouched  # the writes touched some, not all
        assert untouched and sink.pending_datasets == set(datasets) - untouched
        assert check_summaries(store, now, datasets) == untouched
        edited = sink.residency.edited
        sink.catch_up()  # the touched rows edited from the rows deleted, not walked again
        assert sink.residency.edited == edited + len(datasets) - len(untouched)
        assert check_summaries(store, now, datasets) == set(datasets)
    site = store.scan_nodes("site", None, 1).records[0].id
    sink.write([NodeUpsert("site", site, {"jurisdiction": "elsewhere"}, now,
                           prov("moved", now))])
    assert headers(store) == {}  # a site's new jurisdiction touches every dataset
    sink.catch_up()
    assert check_summaries(store, now, datasets) == set(datasets)
    check_job_writes(store, sink, now, datasets)


def check_job_writes(store: GraphStore, sink: MaintainingStoreSink, now: int,
                     datasets: list[str]) -> None:
    """A placed job's new run and a job's status touch no row (they still equal the walk);
    a run of a job without a ``site_id`` that read an item deletes the rows of the
    datasets UP-lineage of it, recomputed as none (the walk places the job)."""
    kept = headers(store)
    placed = store.node_values([f"job:later{k}" for k in range(4)], "site_id")
    server = store.scan_nodes("server", None, 1).records[0].id
    t = now - H // 4
    sink.write([EdgeUpsert("ran_on", job, server, {"valid_from": t}, t, prov(job, t))
                for job in placed]
               + [NodeUpsert("job", job, {"status": "done"}, t, prov(job, t)) for job in placed])
    assert len(placed) == 4 and headers(store) == kept and not sink.pending_datasets
    assert check_summaries(store, now, datasets) == set(datasets)
    item = data_residency(store, datasets[0], [], now_us=now).items[-1]
    sink.write([NodeUpsert("job", "job:unplaced", {"status": "running"}, t, prov("u", t)),
                EdgeUpsert("read", "job:unplaced", item, {"at": t}, t, prov("u", t))])
    sink.catch_up()  # not run: it places nothing, the rows hold
    assert set(headers(store)) == set(datasets)
    assert check_summaries(store, now, datasets) == set(datasets)
    sink.write([EdgeUpsert("ran_on", "job:unplaced", server, {"valid_from": t}, t,
                           prov("u", t))])
    touched = set(datasets) - set(headers(store))
    assert datasets[0] in touched
    sink.catch_up()
    assert set(headers(store)) == set(datasets) - touched
    assert check_summaries(store, now, datasets) == set(datasets) - touched


def idle_sink(store: GraphStore, clock: Clock) -> MaintainingStoreSink:
    """A sink that recomputes nothing more until ``catch_up`` (its first write, which
    recomputes at once, touches only a site's telemetry)."""
    sink = MaintainingStoreSink(store, clock, every_s=1e9, pace=0.0)
    site = store.scan_nodes("site", None, 1).records[0].id
    sink.write([NodeUpsert("site", site, {"battery_soc": 0.5}, clock(),
                           Provenance("soc", "test", clock(), "test"))])
    assert sink.recomputations == 1
    return sink


@pytest.mark.parametrize(("config", "order_seed", "every_s"),
                         [(FLEETS[0], 1, 0.0), (FLEETS[1], 7, 1e9)])
def test_summaries_through_the_rows_equal_the_walk_embedded(
    config: SimulationConfig, order_seed: int, every_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    monkeypatch.setattr(model, "CHUNK", 3)
    clock = Clock(END_US)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    sink = ingest_fleet(store, config, order_seed, clock, every_s)
    assert sink.residency.recomputed > 0
    assert (sink.residency.edited > 0) == (every_s == 0.0)  # recomputed at every batch
    datasets = datasets_of(store)
    kept = headers(store)
    assert set(check_summaries(store, END_US, datasets)) == set(kept) == set(datasets)
    assert check_networkx(store, config, datasets, END_US) > 0
    ResidencyMaintainer(store, clock).rebuild()  # the rows kept equal a rebuild
    assert headers(store) == kept
    # a row does not hold before its computation: the walk answers
    assert check_summaries(store, END_US - H, datasets) == set()

    check_later_writes(store, clock, order_seed)
    store.close()


def test_the_end_of_a_run_recomputes_every_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A recomputation stops after its budget (here after one dataset); the end of an
    embedded run (``catch_up``) goes on until none is pending."""
    from fleetgraph.graph_model import FLEET
    from fleetgraph.ingest.read_models import maintain
    from fleetgraph.storage.embedded import SQLiteGraphStore

    monkeypatch.setattr(maintain, "RESIDENCY_BUDGET_S", 0.0)
    clock = Clock(END_US)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    sink = ingest_fleet(store, FLEETS[0], 2, clock, 1e9)
    datasets = datasets_of(store)
    assert len(datasets) > 1 and not sink.pending_datasets
    assert set(headers(store)) == set(datasets)
    assert check_summaries(store, END_US, datasets) == set(datasets)


def test_read_models_rebuild_cli_makes_the_rows(tmp_path: Path) -> None:
    """`fleetgraph read-models rebuild --only residency` on a store written without the
    sink makes one header per dataset, as of the wall clock, that the summary reads."""
    from click.testing import CliRunner

    from fleetgraph.cli.main import cli
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore
    from tests.e2e.fleet_run import ingest_into

    path = tmp_path / "graph.sqlite"
    store = SQLiteGraphStore(FLEET, path)
    messages, _ = simulated_messages(FLEETS[0])
    ingest_into(store, messages)  # a plain StoreSink: no rows
    datasets = datasets_of(store)
    assert datasets and store.get_read_models(RESIDENCY) == {}
    done = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "read-models", "rebuild",
                                    "--db", str(path), "--only", "residency"])
    assert done.exit_code == 0, done.output
    assert f"{len(datasets)} datasets' residency recomputed" in done.output
    assert set(headers(store)) == set(datasets)
    assert check_summaries(store, wall_clock_us(), datasets) == set(datasets)
    store.close()


@pytest.mark.integration
def test_summaries_through_the_rows_equal_the_walk_cassandra(
    store_factory: Callable[[], GraphStore], request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.callspec.params.get("store_factory") != "cassandra":
        pytest.skip("the embedded backend has its own test above")
    monkeypatch.setattr(model, "CHUNK", 3)
    store = store_factory()
    now = wall_clock_us() // H * H
    config = replace(FLEETS[0], end_time_us=now)
    clock = Clock(now)
    sink = ingest_fleet(store, config, 3, clock, 0.0)
    assert sink.residency.recomputed > 0 and sink.residency.edited > 0
    datasets = datasets_of(store)
    kept = headers(store)
    assert set(check_summaries(store, now, datasets)) == set(kept) == set(datasets)
    assert check_networkx(store, config, datasets, now) > 0
    ResidencyMaintainer(store, clock).rebuild()
    assert headers(store) == kept
    check_later_writes(store, clock, 5)


def test_a_change_past_its_limit_keeps_a_flag_not_the_writes(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dataset waiting for its recomputation keeps at most CHANGE_LIMIT ids and edges
    of what changed since; past it, ``whole`` and nothing else (the memory a pending
    dataset holds stays bounded however long it waits)."""
    monkeypatch.setattr(model, "CHANGE_LIMIT", 4)
    change = Change("header")
    change.add(Change(None, {"artifact:a", "artifact:b"}, {"job:j"}))
    assert not change.whole and change.items == {"artifact:a", "artifact:b"}
    change.add(Change(None, {"artifact:c"}, set(), {("read", "job:k", "artifact:c")}))
    assert change.whole and not (change.items or change.jobs or change.edges)
    change.add(Change(None, {"artifact:d"}))
    assert change.whole and not change.items and change.header == "header"


def test_datasets_past_the_change_limit_are_recomputed_whole_and_equal_the_walk(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    monkeypatch.setattr(model, "CHUNK", 3)
    clock = Clock(END_US)
    store = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    ingest_fleet(store, FLEETS[0], 3, clock, 1e9)
    monkeypatch.setattr(model, "CHANGE_LIMIT", 0)  # every pending change is whole
    datasets = datasets_of(store)
    sink = idle_sink(store, clock)
    sink.write(more_writes(store, random.Random(3), clock()))
    assert sink.pending_datasets
    edited = sink.residency.edited
    sink.catch_up()
    assert sink.residency.edited == edited  # none edited: each walked whole
    assert check_summaries(store, END_US, datasets) == set(datasets)
