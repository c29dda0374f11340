"""The sink's read models are recomputed beside its writes (SinkReadModels): a batch
never waits for a recomputation, a row computed before a write never replaces the
mark that write made, and once caught up the rows are those of a rebuild (the
reference: ``rebuild_read_models`` on the same graph at the same clock)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Provenance, Upsert
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.kafka import sink_read_models
from fleetgraph.ingest.kafka.sink_read_models import SinkReadModels
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.read_models.maintain import rebuild_read_models
from fleetgraph.ingest.read_models.replicas import REPLICAS, ItemReplicas
from fleetgraph.ingest.read_models.site_state import (
    SITE_FREE_GPUS,
    SITE_STATE,
    STALE,
    compute_site_states,
)
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.kafka.fleet import END_US, fleet_messages

MODELS = (SITE_STATE, SITE_FREE_GPUS, REPLICAS)


class Captured:
    """Upserts as the pipeline hands them to its sink."""

    def __init__(self) -> None:
        self.upserts: list[Upsert] = []

    def write(self, upserts: Sequence[Upsert]) -> None:
        self.upserts.extend(upserts)


def fleet_upserts() -> list[Upsert]:
    captured = Captured()
    pipeline = Pipeline.for_fleet(captured, DeadLetterList())
    for i, (topic, payload, _) in enumerate(fleet_messages()):
        pipeline.process(Message(topic, payload, f"sim:{i}"))
    pipeline.flush()
    return captured.upserts


class Later:
    """A ``start`` that keeps the recomputations it is given, to run when told."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.waiting.append(work)

    def run(self) -> None:
        while self.waiting:
            self.waiting.pop(0)()


def rows(store: SQLiteGraphStore) -> dict[str, dict[str, str]]:
    return {model: store.get_read_models(model) for model in MODELS}


def reference(upserts: list[Upsert]) -> dict[str, dict[str, str]]:
    store = SQLiteGraphStore(FLEET)
    StoreSink(store).write(upserts)
    rebuild_read_models(store, lambda: END_US)
    return rows(store)


def no_summary_older_than_the_graph(store: SQLiteGraphStore) -> None:
    """Every site's summary is marked unknown or is what the graph gives now."""
    for site, text in store.get_read_models(SITE_STATE).items():
        if site.startswith("site:") and text != STALE:
            computed = compute_site_states(store, [site], END_US)
            assert text == computed[site].state.encode(), site


@pytest.mark.parametrize("seed", range(4))
def test_recomputations_beside_the_writes_end_where_a_rebuild_does(seed: int) -> None:
    rng = random.Random(seed)
    upserts = fleet_upserts()
    later = Later()
    store = SQLiteGraphStore(FLEET)
    sink = SinkReadModels(store, lambda: END_US, every_s=0.0, pace=0.0,
                          monotonic=lambda: 0.0, start=later)
    at = 0
    while at < len(upserts):
        size = rng.choice([1, 5, 50, 400])
        sink.write(upserts[at : at + size])  # never waits for a recomputation
        at += size
        if rng.random() < 0.3:  # a recomputation ends, batches having come meanwhile
            later.run()
        no_summary_older_than_the_graph(store)
    later.run()
    sink.start = lambda work: work()
    sink.catch_up()
    assert not sink.pending and not sink.pending_items
    caught_up_as_a_rebuild(rows(store), reference(upserts))


def caught_up_as_a_rebuild(kept: dict[str, dict[str, str]],
                           rebuilt: dict[str, dict[str, str]]) -> None:
    """The sink's rows are the rebuild's; a rebuild also writes a row for every item
    never cached anywhere (the sink keeps those it saw a ``cached_at`` write of)."""
    for model in (SITE_STATE, SITE_FREE_GPUS):
        assert kept[model] == rebuilt[model]
    assert kept[REPLICAS].items() <= rebuilt[REPLICAS].items()
    for item in rebuilt[REPLICAS].keys() - kept[REPLICAS].keys():
        decoded = ItemReplicas.decode(item, rebuilt[REPLICAS][item])
        assert decoded is not None and decoded.pairs == ()


def test_a_row_computed_before_a_write_does_not_replace_its_mark() -> None:
    later = Later()
    store = SQLiteGraphStore(FLEET)
    sink = SinkReadModels(store, lambda: END_US, every_s=0.0, pace=0.0,
                          monotonic=lambda: 0.0, start=later)
    prov = Provenance("e", "s", END_US - 10, "t")
    sink.write([NodeUpsert("site", "site:a", {"region": "east"}, END_US - 10, prov),
                NodeUpsert("site", "site:b", {"region": "east"}, END_US - 10, prov)])
    assert len(later.waiting) == 1  # started, not run yet
    sink.write([NodeUpsert("site", "site:b", {"region": "west"}, END_US - 5, prov)])
    assert len(later.waiting) == 1  # one at a time: site:b waits for the next
    later.run()
    summaries = store.get_read_models(SITE_STATE)
    assert summaries["site:a"] != STALE and summaries["site:b"] == STALE
    assert sink.pending == {"site:b"}
    sink.write([])  # the next batch starts the next recomputation
    later.run()
    no_summary_older_than_the_graph(store)
    assert store.get_read_models(SITE_STATE)["site:b"] != STALE


def test_the_wait_after_a_recomputation_follows_what_it_cost() -> None:
    ticks = iter([100.0, 103.0])  # one recomputation, 3 s long
    store = SQLiteGraphStore(FLEET)
    sink = SinkReadModels(store, lambda: END_US, monotonic=lambda: 0.0,
                          timer=lambda: next(ticks), start=lambda work: work())
    assert sink.every_s == sink_read_models.READ_MODEL_EVERY_S
    prov = Provenance("e", "s", 10, "t")
    sink.write([NodeUpsert("site", "site:s1", {"region": "east"}, 10, prov)])
    assert sink.recomputations == 1  # a sink's first batch touching a site: at once
    assert sink.every_s == 3.0 * sink_read_models.READ_MODEL_PACE
    sink.write([NodeUpsert("site", "site:s1", {"region": "west"}, 20, prov)])
    assert sink.recomputations == 1 and sink.pending == {"site:s1"}  # waits, marked
    assert store.get_read_models(SITE_STATE)["site:s1"] == STALE


def test_the_threaded_recomputation_runs_and_can_be_waited_for() -> None:
    store = SQLiteGraphStore(FLEET)
    sink = SinkReadModels(store, lambda: END_US)
    upserts = fleet_upserts()
    sink.write(upserts)
    assert sink.wait(60.0)
    sink.catch_up()
    caught_up_as_a_rebuild(rows(store), reference(upserts))
