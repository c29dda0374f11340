"""The worker's processing without a broker: the same graph as the embedded runner."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.dedup import MappedDedup
from fleetgraph.ingest.kafka.processor import SourceProcessors
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.sideinput import InventorySideInput
from fleetgraph.ingest.kafka.sinks import GraphTopicSink, TopicDeadLetters
from fleetgraph.ingest.kafka.store_writer import GraphStoreWriter, KafkaRecord
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.stages.dedup import DEDUP_MODES, DedupMode
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import Topic
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.kafka.fleet import END_US, fleet_messages, run_embedded_on
from tests.kafka.graph_rows import differences, rows_without_source

NAMES = TopicNames("fg.")


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []

    def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.messages.append((topic, key, value))

    def on(self, topic: str) -> list[tuple[str, bytes | None, bytes]]:
        return [m for m in self.messages if m[0] == topic]


def _processors(published: Published, clock: list[int],
                mode: DedupMode = "leading") -> SourceProcessors:
    codec = load_event_codec()
    dedup = MappedDedup({}, window_us=5_000, clock=lambda: clock[0], mode=mode)
    sink = GraphTopicSink(GraphRecordCodec(FLEET, NAMES), published)
    return SourceProcessors(FLEET, codec, NAMES, dedup, sink,
                            TopicDeadLetters(NAMES.deadletter, published),
                            validator=Validator(FLEET, clock=lambda: END_US))


@pytest.mark.parametrize("mode", DEDUP_MODES)
def test_stores_the_same_graph_and_dead_letters_as_the_embedded_runner(
        tmp_path: Path, mode: DedupMode) -> None:
    messages = list(fleet_messages())
    embedded = run_embedded_on(messages, tmp_path / "embedded.sqlite",
                               Validator(FLEET, clock=lambda: END_US))

    published, clock = Published(), [0]
    processors = _processors(published, clock, mode)
    side_input = InventorySideInput(load_event_codec(), Validator(FLEET, clock=lambda: END_US),
                                    processors.topology)
    for topic, payload, _ in messages:  # the side input is read first, as on a worker
        if topic == "inventory":
            side_input.apply(payload)
    partitions = Counter[int]()
    for offset, (topic, payload, _) in enumerate(messages):
        partition = hash(payload) % 4
        partitions[partition] += 1
        processors.process(f"fg.{topic}", partition, offset, payload)
        clock[0] += 1_000  # the dedup window (5 ms) passes every fifth message
        due = processors.dedup.take_due()
        processors.sink.write(due.upserts)
        processors.dedup.forget(due)
    processors.sink.write(processors.dedup.drain())
    assert processors.counts()["processing_errors"] == 0
    assert processors.dedup.collapsed > 0

    store = SQLiteGraphStore(FLEET, tmp_path / "kafka.sqlite")
    writer = GraphStoreWriter(GraphRecordCodec(FLEET, NAMES), lambda: store, published)  # type: ignore[arg-type]
    graph = [m for m in published.messages if m[0] != NAMES.deadletter]
    writer.write([KafkaRecord(topic, 0, i, value) for i, (topic, _, value) in enumerate(graph)])
    assert differences(rows_without_source(embedded.store), rows_without_source(store)) == []

    dead = [json.loads(value) for _, _, value in published.on(NAMES.deadletter)]
    assert Counter((d["reason"], d["payload_b64"]) for d in dead) == Counter(
        (d["reason"], d["payload_b64"]) for d in embedded.dead_letters.records)
    assert all(d["source"].startswith(f"fg.{d['topic']}/") for d in dead)


def test_an_unexpected_error_goes_to_the_dead_letters_and_processing_goes_on() -> None:
    published, clock = Published(), [0]
    processors = _processors(published, clock)
    jobs = [p for t, p, d in fleet_messages() if t == "jobs" and d is None]
    mapper = processors.pipelines[Topic.JOBS].mapper
    working = mapper.to_graph

    def broken(*args: object) -> None:
        raise RuntimeError("the mapper broke")

    mapper.to_graph = broken  # type: ignore[method-assign,assignment]
    processors.process("fg.jobs", 1, 7, jobs[0])
    processors.process("fg.unknown", 0, 0, b"x")
    mapper.to_graph = working  # type: ignore[method-assign]
    processors.process("fg.jobs", 1, 8, jobs[1])

    dead = [json.loads(value) for _, _, value in published.on(NAMES.deadletter)]
    assert [d["reason"] for d in dead] == ["processing_error", "processing_error"]
    assert dead[0]["detail"].startswith("RuntimeError: the mapper broke (at ")
    assert dead[0]["source"] == "fg.jobs/1/7"
    assert processors.errors == Counter({"ValueError": 1})  # outside any pipeline
    assert processors.pipelines[Topic.JOBS].stats.rejected == Counter({"processing_error": 1})
    assert len(processors.dedup) > 0  # the next event went through
