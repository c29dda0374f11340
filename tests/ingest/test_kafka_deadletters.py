"""``deadletters --kafka``: the dead-letter topic read whole and replayed once.

Against an in-memory stand-in of the aiokafka consumer and producer (the calls
``fleetgraph.ingest.kafka.deadletters`` makes), so it runs without the stack."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from fleetgraph.ingest.deadletter import dead_letter_record
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.kafka.deadletters import read_letters, replay_letters, replayed_topic
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.message import Message
from fleetgraph.schemas import load_event_codec
from fleetgraph.simulator import SimulationConfig, simulate_messages

NAMES = TopicNames("t.")


@dataclass
class Record:
    offset: int
    value: bytes | None
    key: bytes | None


class Broker:
    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.logs: dict[tuple[str, int], list[Record]] = defaultdict(list)
        self.topics: set[str] = set()

    def append(self, topic: str, partition: int, value: bytes, key: bytes | None) -> None:
        self.topics.add(topic)
        log = self.logs[(topic, partition)]
        log.append(Record(len(log), value, key))


class FakeConsumer:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.positions: dict[TopicPartition, int] = {}

    async def topics(self) -> set[str]:
        return set(self.broker.topics)

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.broker.partitions))

    def assign(self, tps: list[TopicPartition]) -> None:
        self.positions = {tp: 0 for tp in tps}

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.positions[tp] = 0

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.broker.logs[(tp.topic, tp.partition)]) for tp in tps}

    async def getmany(self, *tps: TopicPartition, timeout_ms: int = 0) -> dict[Any, list[Any]]:
        out = {}
        for tp in tps:
            batch = self.broker.logs[(tp.topic, tp.partition)][self.positions[tp]:][:2]
            self.positions[tp] += len(batch)
            out[tp] = batch
        return out

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


class FakeProducer:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        self.sent.append((topic, value, key))
        self.broker.append(topic, len(self.sent) % self.broker.partitions, value, key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def letter(topic: str, payload: bytes, source: str, reason: str) -> bytes:
    record = dead_letter_record(Message(topic, payload, source), RejectedEvent(reason, "why"))
    return json.dumps(record).encode()


def test_replay_sends_each_letter_back_to_its_topic_once() -> None:
    codec = load_event_codec()
    stream = simulate_messages(SimulationConfig(seed=2, sites=1, hours=1), codec)
    jobs = [p for t, p, _ in stream if t.value == "jobs"][:4]
    broker = Broker()
    for n, payload in enumerate(jobs):
        broker.append(NAMES.deadletter, n % 3,
                      letter("jobs", payload, f"t.jobs/0/{n}", "cpu_only_job"), None)
    broker.append(NAMES.deadletter, 1, letter("t.graph.node.site", b"\x01", "t.graph.node.site/0/9",
                                             "store_refused"), None)
    broker.append(NAMES.deadletter, 2, letter("other.jobs", b"\x02", "other/0/1",
                                             "cpu_only_job"), None)

    async def go() -> None:
        listed = await read_letters(FakeConsumer(broker), NAMES)
        assert len(listed) == 6
        assert [(i.partition, i.offset) for i in listed] == sorted(
            (i.partition, i.offset) for i in listed)

        producer = FakeProducer(broker)
        first = await replay_letters(FakeConsumer(broker), producer, NAMES, codec,
                                     reason="cpu_only_job")
        assert first.chosen == 5 and first.sent == {"t.jobs": 4} and len(first.unknown) == 1
        resent = [(t, v, k) for t, v, k in producer.sent if t == "t.jobs"]
        assert sorted(v for _, v, _ in resent) == sorted(jobs)
        assert all(k and k.startswith(b"job:") for _, _, k in resent)
        marks = [t for t, _, _ in producer.sent if t == replayed_topic(NAMES)]
        assert len(marks) == 4

        second = await replay_letters(FakeConsumer(broker), FakeProducer(broker), NAMES, codec)
        assert second.chosen == 6 and second.skipped == 4
        assert second.sent == {"t.graph.node.site": 1}
        third = await replay_letters(FakeConsumer(broker), FakeProducer(broker), NAMES, codec)
        assert sum(third.sent.values()) == 0 and third.skipped == 5

    asyncio.run(go())


def test_list_and_show_on_kafka_mark_the_replayed(monkeypatch: Any) -> None:
    from click.testing import CliRunner

    import fleetgraph.ingest.kafka.deadletters as on_kafka
    from fleetgraph.cli.main import cli

    broker = Broker()
    for n, reason in enumerate(("undecodable", "cpu_only_job", "cpu_only_job")):
        broker.append(NAMES.deadletter, 0, letter("jobs", b"\xc3\x01bad", f"t.jobs/0/{n}", reason),
                      None)
    broker.append(replayed_topic(NAMES), 0, json.dumps({"position": "0:1"}).encode(), b"0:1")

    async def fetch(bootstrap: str, names: TopicNames) -> Any:
        consumer = FakeConsumer(broker)
        return (await on_kafka.read_letters(consumer, names),
                await on_kafka.replayed_positions(consumer, names))

    monkeypatch.setattr(on_kafka, "fetch_letters", fetch)
    monkeypatch.setenv("FLEETGRAPH_TOPIC_PREFIX", NAMES.prefix)
    listed = CliRunner().invoke(cli, ["deadletters", "list", "--kafka"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith("3 dead letters in t.deadletter on ")
    assert "cpu_only_job 2, undecodable 1" in lines[0]
    assert lines[1] == "1 of them replayed already (marked *)"
    assert [line.split()[0] for line in lines[2:]] == ["0", "1*", "2"]
    shown = CliRunner().invoke(cli, ["deadletters", "show", "1", "--kafka"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    assert record["replayed"] is True and record["dead_letter_position"] == "0:1"
    assert record["payload"]["decodes"] is False
