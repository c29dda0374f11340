"""The Faust agents without a broker, through ``agent.test_context()``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from faust.types import Message

from fleetgraph.settings import Settings
from graph_model import FLEET
from graph_model.records import NodeUpsert, Provenance
from ingest.kafka.agents import Activity, add_processing, add_store_sink
from ingest.kafka.app import create_app
from ingest.kafka.records import GraphRecordCodec
from ingest.kafka.topics import TopicNames
from ingest.stages.validate import Validator
from schemas import load_event_codec
from storage.embedded import SQLiteGraphStore
from tests.kafka.fleet import END_US, fleet_messages

NAMES = TopicNames("fg.")


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []

    def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.messages.append((topic, key, value))


def _app(tmp_path: Path) -> tuple[Settings, Any]:
    settings = Settings(topic_prefix="fg.", consumer_group="fg-test", data_dir=tmp_path)
    return settings, create_app(settings, partitions=4)


def test_a_source_agent_buffers_good_events_and_dead_letters_bad_ones(tmp_path: Path) -> None:
    settings, app = _app(tmp_path)
    published = Published()
    processing = add_processing(
        app, settings, NAMES, FLEET, load_event_codec(), Activity(), partitions=4,
        publish=published, follow_inventory=False,
        validator=Validator(FLEET, clock=lambda: END_US),
    )
    agent = app.agents["fleetgraph.process.fg.telemetry"]
    codec = load_event_codec()
    good = next(p for t, p, d in fleet_messages() if t == "telemetry" and d is None
                and codec.decode(p)[1]["kind"] == "status")
    jobs_event = next(p for t, p, d in fleet_messages() if t == "jobs" and d is None)

    async def run() -> None:
        async with agent.test_context() as tested:
            await tested.put(good, partition=2)
            await tested.put(b"\xc3\x01garbage", partition=3)
            await tested.put(jobs_event, partition=3)

    asyncio.run(run())
    keys = processing.dedup.keys()
    assert keys and all(key.startswith("2|") for key in keys)
    dead = [json.loads(v) for t, _, v in published.messages if t == NAMES.deadletter]
    assert [d["reason"] for d in dead] == ["undecodable", "wrong_topic"]
    assert [d["source"] for d in dead] == ["fg.telemetry/3/1", "fg.telemetry/3/2"]
    assert processing.processors.counts()["received"] == 3


def test_the_sink_agent_writes_graph_records_to_the_store(tmp_path: Path) -> None:
    _, app = _app(tmp_path)
    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    writer = add_store_sink(app, NAMES, FLEET, lambda: store, Activity(), publish=Published())
    agent = app.agents["fleetgraph.sink"]
    codec = GraphRecordCodec(FLEET, NAMES)
    record = codec.encode(NodeUpsert("cdu", "cdu:s1-c1", {"status": "fault"}, 10,
                                     Provenance("e1", "fg.telemetry/0/0", 10, "t")))

    async def run() -> None:
        async with agent.test_context() as tested:
            # put() would name the message's topic "<internal>" (the agent reads many topics)
            message = Message(topic=record.topic, partition=1, offset=5, timestamp=time.time(),
                              timestamp_type=0, headers=None, key=record.key,
                              value=record.value, checksum=b"",
                              generation_id=app.consumer_generation_id)
            channel = tested.stream().channel
            await channel.put(await channel.decode(message))
            for _ in range(100):
                if writer.written:
                    return
                await asyncio.sleep(0.05)

    asyncio.run(run())
    assert store.get_nodes(["cdu:s1-c1"])["cdu:s1-c1"].props == {"status": "fault"}
