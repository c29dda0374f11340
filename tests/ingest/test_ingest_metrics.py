"""Ingest's metrics after an embedded run: the events by outcome equal the pipeline's
own report, the dead letters by reason equal the dead-letter records, the store's rows
and freshness equal what a recording store behind the meter saw."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fleetgraph.core.units import SECOND_US
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.metrics import IngestCollector
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import IngestSettings
from fleetgraph.simulator import SimulationConfig
from fleetgraph.simulator.stream import simulate_messages
from fleetgraph.storage.delegating import DelegatingStore
from fleetgraph.storage.embedded import SQLiteGraphStore
from fleetgraph.storage.metered import FRESHNESS_BUCKETS, MeteredStore, StoreMetrics

END_US = 1_763_700_000_000_000
STORED_AT = END_US + 90 * SECOND_US  # the meter's "now" when it writes
CODEC = load_event_codec()


class Recording(DelegatingStore):
    """Remembers the event time of every upsert written through it."""

    def __init__(self, inner: SQLiteGraphStore) -> None:
        super().__init__(inner)
        self.times: list[int] = []

    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        super().upsert_nodes(nodes)
        self.times += [n.ts for n in nodes]

    def upsert_edges(self, edges: Sequence[EdgeUpsert]) -> None:
        super().upsert_edges(edges)
        self.times += [e.ts for e in edges]


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def by(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, label: str
       ) -> dict[str, float]:
    return {dict(labels)[label]: v for (n, labels), v in found.items() if n == name}


def test_embedded_run_metrics_equal_the_report_and_the_dead_letters() -> None:
    config = SimulationConfig(seed=11, sites=2, hours=2.0, end_time_us=END_US,
                              malformed_rate=0.05)
    messages = [Message(topic.value, payload, f"sim:{i}")
                for i, (topic, payload, _) in enumerate(simulate_messages(config, CODEC))]
    registry = CollectorRegistry()
    collector = IngestCollector(registry)
    recording = Recording(SQLiteGraphStore(FLEET, ":memory:"))
    store = MeteredStore(recording, StoreMetrics(registry, FLEET.edges), clock=lambda: STORED_AT)
    dead = DeadLetterList()
    pipeline = Pipeline.for_fleet(StoreSink(store), dead, codec=CODEC, clock=lambda: END_US,
                                  ingest=IngestSettings(batch_size=400))
    collector.watch_pipelines(lambda: [pipeline.stats])
    collector.watch_dead_letters(dead)

    report = run_embedded(pipeline, lambda: messages)
    found = samples(registry)

    events = {dict(labels)["outcome"]: v for (n, labels), v in found.items()
              if n == "fleetgraph_ingest_events_total"}
    stats = report.stats
    assert events == {"received": len(messages), "accepted": stats.accepted,
                      "filtered": sum(stats.filtered.values()),
                      "dead_lettered": len(dead.records)}
    assert events["accepted"] + events["filtered"] + events["dead_lettered"] == len(messages)
    assert len(dead.records) > 0 and sum(stats.filtered.values()) > 0
    assert by(found, "fleetgraph_dead_letters_total", "reason") == Counter(
        r["reason"] for r in dead.records)
    assert by(found, "fleetgraph_ingest_filtered_total", "reason") == stats.filtered

    rows = by(found, "fleetgraph_store_rows_total", "operation")
    assert rows["upsert_nodes"] + rows["upsert_edges"] == len(recording.times)
    assert len(recording.times) == stats.written
    ages = [(STORED_AT - t) / SECOND_US for t in recording.times]
    assert found["fleetgraph_ingest_freshness_seconds_count", ()] == len(ages)
    assert abs(found["fleetgraph_ingest_freshness_seconds_sum", ()] - sum(ages)) < 1e-3
    for bound in FRESHNESS_BUCKETS:
        assert found["fleetgraph_ingest_freshness_seconds_bucket", (("le", str(bound)),)] \
            == sum(age <= bound for age in ages), bound
    writes = by({k: v for k, v in found.items() if dict(k[1]).get("edge_type") == ""},
                "fleetgraph_store_seconds_count", "operation")
    assert writes["upsert_nodes"] >= 1 and writes["upsert_edges"] >= 1
