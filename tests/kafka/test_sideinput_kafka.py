"""On a real broker: a follower restarted with its snapshot reads only the inventory
published since, and ends with the topology of one that read the whole topic.

Needs Kafka (see ``tests/integration/test_kafka_pipeline.py``); the logic itself is
tested without a broker in ``test_sideinput_snapshot.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from fleetgraph.bench.startup import inventory_events
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.sideinput import (
    InventoryFollower,
    InventorySideInput,
    snapshot_path,
)
from fleetgraph.ingest.kafka.topics import TopicNames, delete_topics
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import Topic
from fleetgraph.settings import Settings
from tests.integration.test_kafka_pipeline import _kafka_bootstrap

pytestmark = pytest.mark.integration

PARTITIONS = 3


async def _follow(bootstrap: str, topic: str, snapshot: Path | None) -> InventoryFollower:
    side_input = InventorySideInput(load_event_codec(), Validator(FLEET), Topology())
    follower = InventoryFollower(bootstrap, topic, PARTITIONS, side_input,
                                 snapshot_path=snapshot, freeze=False)
    task = asyncio.create_task(follower.run())
    ready = asyncio.create_task(follower.ready.wait())
    await asyncio.wait([task, ready], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert follower.ready.is_set(), "the follower did not catch up within 60 s"
    for _ in range(200):
        if snapshot is None or follower.snapshots_written:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return follower


def test_a_restarted_follower_reads_only_what_came_after_its_snapshot(tmp_path: Path) -> None:
    bootstrap = _kafka_bootstrap()
    prefix = f"fgtest-{uuid.uuid4().hex[:10]}."
    settings = Settings().updated(kafka={"bootstrap": bootstrap, "topic_prefix": prefix},
                                  data_dir=tmp_path)
    names = TopicNames(prefix)
    topic = names.source(Topic.INVENTORY)
    codec = load_event_codec()
    payloads = [codec.encode(Topic.INVENTORY, sim.event)
                for sim in inventory_events(2, 20, churn=20.0)]
    cut = len(payloads) * 2 // 3
    path = snapshot_path(settings, topic)
    try:
        publish_messages(settings, [("inventory", p) for p in payloads[:cut]],
                         partitions=PARTITIONS)
        first = asyncio.run(_follow(bootstrap, topic, path))
        assert first.read == cut and first.snapshots_written == 1
        publish_messages(settings, [("inventory", p) for p in payloads[cut:]],
                         partitions=PARTITIONS)
        restarted = asyncio.run(_follow(bootstrap, topic, path))
        whole = asyncio.run(_follow(bootstrap, topic, None))
        assert restarted.restored is not None
        assert restarted.read == len(payloads) - cut
        assert whole.read == len(payloads)
        assert sorted(restarted.side_input.topology.facts()) == sorted(
            whole.side_input.topology.facts())
    finally:
        asyncio.run(delete_topics(bootstrap, names.all(FLEET)))
