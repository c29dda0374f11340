"""Ingest into the embedded store: the pipeline over a store that also keeps the
topology side input (:class:`SideInputStore`; the CLI opens the SQLite one).

An ``ingest --append`` starts from the topology of every log ingested before
(``side_input`` facts in the store), so the jobs and faults of an appended log
are enriched as they would have been in one log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from fleetgraph.ingest.deadletter import DeadLetters
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.read_models.maintain import MaintainingStoreSink, store_sink
from fleetgraph.ingest.runner import RunReport, run_embedded
from fleetgraph.ingest.sinks import GraphWriter
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.settings import Settings

TOPOLOGY = "topology"  # the side input's name in the store
WATERMARK = "watermark"  # the newest event time of each run, in the store


class SideInputStore(GraphWriter, Protocol):
    """A graph store that keeps named sets of facts beside the graph (the embedded
    store's ``side_input`` table)."""

    def side_input_facts(self, name: str) -> list[str]: ...

    def add_side_input_facts(self, name: str, facts: Iterable[str]) -> None: ...


def store_pipeline(settings: Settings, store: SideInputStore,
                   dead_letters: DeadLetters) -> Pipeline:
    """A pipeline writing to ``store``, enriching from the topology stored in it."""
    topology = Topology().load(store.side_input_facts(TOPOLOGY))
    return Pipeline.for_fleet(store_sink(store), dead_letters, ingest=settings.ingest,
                              topology=topology)


def ingest_into_store(
    pipeline: Pipeline,
    store: SideInputStore,
    messages: Callable[[], Iterable[Message]],
    *,
    on_message: Callable[[], object] | None = None,
) -> RunReport:
    """Run messages through the pipeline, side inputs first; the topology they make is
    stored before the other messages are, so a later run starts from it.

    The store then holds what one log of all the runs' messages would give as long
    as no run brings topology changes older than events an earlier run stored (logs
    cut by event time); the report counts those that do (``late_side_inputs``)."""
    stored = set(store.side_input_facts(TOPOLOGY))
    watermark = max((int(t) for t in store.side_input_facts(WATERMARK)), default=None)
    late = 0

    def side_inputs_done() -> None:
        nonlocal late
        new = [fact for fact in pipeline.topology.facts() if fact not in stored]
        if watermark is not None:
            late = sum(Topology.fact_time(fact) < watermark for fact in new)
        store.add_side_input_facts(TOPOLOGY, new)

    report = run_embedded(pipeline, messages, on_message=on_message,
                          on_side_inputs=side_inputs_done)
    if isinstance(pipeline.sink, MaintainingStoreSink):
        pipeline.sink.catch_up()  # the sites whose read-model rows wait for recomputing
    if pipeline.newest_event_time:
        store.add_side_input_facts(WATERMARK, [str(pipeline.newest_event_time)])
    report.late_side_inputs = late
    return report
