from __future__ import annotations

import asyncio
from typing import Any

from fleetgraph.ingest.kafka.producer import event_key, send_all
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.schemas import load_event_codec
from tests.kafka.fleet import fleet_messages

CODEC = load_event_codec()


def test_the_key_is_the_events_main_id() -> None:
    want = {"telemetry": "component_id", "inventory": "component_id", "jobs": "job_id",
            "artifacts": "artifact_id"}
    seen = set()
    for topic, payload, defect in fleet_messages():
        if defect is not None:
            continue
        fields = CODEC.decode(payload)[1]
        assert event_key(CODEC, payload) == fields[want[topic]].encode()
        seen.add(topic)
    assert seen == set(want)


def test_an_undecodable_message_has_no_key() -> None:
    assert event_key(CODEC, b"not avro") is None


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        self.sent.append((topic, value, key))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def test_sends_every_message_to_the_prefixed_topic_in_order() -> None:
    messages = [(t, p) for t, p, _ in fleet_messages()][:500]
    producer = FakeProducer()
    count = asyncio.run(send_all(producer, TopicNames("fg."), CODEC, messages, in_flight=64))
    assert count == 500
    assert [(t, v) for t, v, _ in producer.sent] == [(f"fg.{t}", p) for t, p in messages]
