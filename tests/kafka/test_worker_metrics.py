"""A worker's metrics without a broker: its processors and sink writer run as plain code
(as in test_processor.py), the metrics are read from the registry's exposition and
compared with the dead-letter records published and the pipelines' own counts."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.dedup import MappedDedup
from fleetgraph.ingest.kafka.metrics import WorkerMetrics, source_lag, store_lag
from fleetgraph.ingest.kafka.processor import SourceProcessors
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.sideinput import InventorySideInput
from fleetgraph.ingest.kafka.sinks import GraphTopicSink, TopicDeadLetters
from fleetgraph.ingest.kafka.store_writer import GraphStoreWriter, KafkaRecord
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.kafka.fleet import END_US, fleet_messages

NAMES = TopicNames("fg.")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []

    def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.messages.append((topic, key, value))


def scrape(metrics: WorkerMetrics) -> Samples:
    text = generate_latest(metrics.prometheus).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def labelled(found: Samples, name: str) -> dict[tuple[str, ...], float]:
    return {tuple(v for _, v in labels): value for (n, labels), value in found.items()
            if n == name}


def test_worker_metrics_equal_the_published_dead_letters_and_the_pipelines() -> None:
    metrics = WorkerMetrics(FLEET)
    published, codec = Published(), load_event_codec()
    dedup = MappedDedup({}, window_us=5_000, clock=lambda: 0)
    processors = SourceProcessors(FLEET, codec, NAMES, dedup,
                                  GraphTopicSink(GraphRecordCodec(FLEET, NAMES), published),
                                  TopicDeadLetters(NAMES.deadletter, published),
                                  validator=Validator(FLEET, clock=lambda: END_US))
    metrics.watch_processing(lambda: [p.stats for p in processors.pipelines.values()],
                             processors.dead_letters)
    messages = list(fleet_messages())
    side_input = InventorySideInput(codec, Validator(FLEET, clock=lambda: END_US),
                                    processors.topology)
    for topic, payload, _ in messages:
        if topic == "inventory":
            side_input.apply(payload)
    for offset, (topic, payload, _) in enumerate(messages):
        processors.process(f"fg.{topic}", offset % 4, offset, payload)
    processors.process("fg.unknown", 0, 0, b"x")  # dead-lettered outside any pipeline
    processors.sink.write(dedup.drain())

    sink_dead = TopicDeadLetters(NAMES.deadletter, published)
    store = SQLiteGraphStore(FLEET, ":memory:")
    writer = GraphStoreWriter(GraphRecordCodec(FLEET, NAMES),
                              metrics.metered(lambda: store), sink_dead)
    metrics.watch_writer(writer)
    graph = [m for m in published.messages if m[0] != NAMES.deadletter]
    records = [KafkaRecord(topic, 0, i, value) for i, (topic, _, value) in enumerate(graph)]
    records.append(KafkaRecord("fg.edge_ran_on", 0, len(graph), b"not a record"))
    stored = writer.write(records)

    found = scrape(metrics)
    events = labelled(found, "fleetgraph_ingest_events_total")
    counts = processors.counts()
    assert events == {
        ("accepted", "process"): counts["accepted"],
        ("dead_lettered", "process"): counts["dead_lettered"],
        ("filtered", "process"): counts["filtered"],
        ("received", "process"): len(messages),
        ("read", "store"): len(records),
        ("stored", "store"): stored,
    }
    dead = Counter(json.loads(v)["reason"]
                   for t, _, v in published.messages if t == NAMES.deadletter)
    # the pipelines' dead letters, the unknown topic's and the unreadable graph record's
    assert sum(dead.values()) == counts["dead_lettered"] + 2
    assert dead["processing_error"] >= 1
    assert {k[0]: v for k, v in labelled(found, "fleetgraph_dead_letters_total").items()} \
        == dead
    rows = {k[0]: v for k, v in labelled(found, "fleetgraph_store_rows_total").items()}
    carried = sum(len(GraphRecordCodec(FLEET, NAMES).decode_all(topic, value))
                  for topic, _, value in graph)  # several upserts to a graph message
    assert rows["upsert_nodes"] + rows["upsert_edges"] == stored == carried
    assert found["fleetgraph_ingest_freshness_seconds_count", ()] == stored
    assert found["fleetgraph_sink_retries_total", ()] == 0


@dataclass
class State:
    tp: TopicPartition
    end: int | None
    read: int | None
    committed: int | None


class Consumer:
    def __init__(self, ends: dict[TopicPartition, int | None],
                 positions: dict[TopicPartition, int]) -> None:
        self.ends = ends
        self.positions = positions

    def assignment(self) -> set[TopicPartition]:
        return set(self.ends)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends[tp]

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


def test_lag_per_partition_follows_the_assignment() -> None:
    metrics = WorkerMetrics(FLEET)
    a0, a1, g0 = TopicPartition("fg.jobs", 0), TopicPartition("fg.jobs", 1), \
        TopicPartition("fg.node_site", 0)
    metrics.set_lag("process", source_lag([State(a0, 120, 99, 100), State(a1, 5, None, None),
                                           State(TopicPartition("fg.jobs", 2), None, 0, 0)]))
    consumer: Any = Consumer({g0: 40, TopicPartition("fg.node_site", 1): None}, {g0: 15})
    metrics.set_lag("store", asyncio.run(store_lag(consumer)))
    lag = labelled(scrape(metrics), "fleetgraph_consumer_lag")
    assert lag == {("process", "0", "fg.jobs"): 20, ("process", "1", "fg.jobs"): 5,
                   ("store", "0", "fg.node_site"): 25}
    metrics.set_lag("process", source_lag([State(a1, 9, 8, 9)]))  # partition 0 revoked
    lag = labelled(scrape(metrics), "fleetgraph_consumer_lag")
    assert lag == {("process", "1", "fg.jobs"): 0, ("store", "0", "fg.node_site"): 25}
