"""The Faust source agents without a broker, through ``agent.test_context()`` (the
sink is not an agent: tests/kafka/test_store_consumer.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.activity import Activity
from fleetgraph.ingest.kafka.agents import add_processing
from fleetgraph.ingest.kafka.app import create_app
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings
from tests.kafka.fleet import END_US, fleet_messages

NAMES = TopicNames("fg.")


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []

    def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.messages.append((topic, key, value))


def _app(tmp_path: Path) -> tuple[Settings, Any]:
    settings = Settings().updated(data_dir=tmp_path,
                                  kafka={"topic_prefix": "fg.", "consumer_group": "fg-test"})
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


def test_the_settings_hold_bounds_the_workers_dedup(tmp_path: Path) -> None:
    """FLEETGRAPH_DEDUP_MAX_HOLD_S reaches the worker's dedup buffer; unset, a later
    update waits for the window's end."""
    for hold_s, expected_us in ((None, 5_000_000), (1.5, 1_500_000), (30.0, 5_000_000)):
        settings, app = _app(tmp_path / f"hold-{hold_s}")
        settings = settings.updated(ingest={"dedup_window_s": 5.0, "dedup_max_hold_s": hold_s})
        processing = add_processing(
            app, settings, NAMES, FLEET, load_event_codec(), Activity(), partitions=4,
            publish=Published(), follow_inventory=False,
            validator=Validator(FLEET, clock=lambda: END_US),
        )
        assert processing.dedup.hold_us == expected_us, hold_s
