"""``fleetgraph publish`` against the running Kafka: every message of a JSON-lines log
arrives on ``<prefix><topic>`` as the payload the codec makes of its line (read back
with a plain consumer), and the summary counts them per topic.

Needs Kafka on 127.0.0.1:9092 (skipped without it; FLEETGRAPH_REQUIRE_STACK=1 makes
the test start it, or fail). Topics get a random prefix and are deleted after.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetgraph.cli.main import cli
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.topics import TopicNames, delete_topics
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import Topic

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
KAFKA_PORT = int(os.environ.get("FLEETGRAPH_KAFKA_PORT") or 9092)
NOW = 1_764_633_600_000_000


def _bootstrap() -> str:
    if os.environ.get("FLEETGRAPH_REQUIRE_STACK") == "1":
        from fleetgraph.infra.containers import endpoints_for_tests

        return endpoints_for_tests(["kafka"]).kafka_bootstrap_servers
    try:
        with socket.create_connection((HOST, KAFKA_PORT), timeout=2.0):
            return f"{HOST}:{KAFKA_PORT}"
    except OSError as exc:
        pytest.skip(f"Kafka is not reachable on {HOST}:{KAFKA_PORT}: {exc}")


@pytest.fixture
def kafka() -> Iterator[tuple[str, str]]:
    bootstrap = _bootstrap()
    prefix = f"fgpub-{uuid.uuid4().hex[:10]}."
    yield bootstrap, prefix
    asyncio.run(delete_topics(bootstrap, TopicNames(prefix).all(FLEET)))


async def _read_back(bootstrap: str, topics: list[str], count: int) -> list[tuple[str, bytes]]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list[tuple[str, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while len(got) < count and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                got.extend((r.topic, r.value) for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return got


def test_publish_sends_every_line_to_its_topic(kafka: tuple[str, str], tmp_path: Path) -> None:
    bootstrap, prefix = kafka
    lines = [{"topic": "inventory", "event_id": f"i{n}", "event_time": NOW + n,
              "kind": "installed", "component_id": f"rack:r{n}", "parent_id": "site:s1"}
             for n in range(5)]
    lines += [{"topic": "telemetry", "event_id": f"t{n}", "event_time": NOW + n,
               "kind": "reading", "component_id": "cdu:c1", "metric": "flow_lpm",
               "value": 100.0 + n} for n in range(3)]
    log = tmp_path / "mine.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = CliRunner(env={"FLEETGRAPH_KAFKA_BOOTSTRAP": bootstrap,
                            "FLEETGRAPH_TOPIC_PREFIX": prefix}).invoke(cli, ["publish", str(log)])
    assert result.exit_code == 0, result.output
    assert "published 8 messages" in result.output
    assert "inventory 5, telemetry 3" in result.output

    codec = load_event_codec()
    expected = Counter((f"{prefix}{line['topic']}",
                        codec.encode(Topic(str(line["topic"])),
                                     {k: v for k, v in line.items() if k != "topic"}))
                       for line in lines)
    got = asyncio.run(_read_back(bootstrap, [f"{prefix}{t.value}" for t in Topic], len(lines)))
    assert Counter(got) == expected
