"""Kafka -> two Faust workers -> the embedded store: the same graph as the embedded runner.

A small simulated fleet (with malformed messages) is published to fresh
topics (a random prefix per test; the broker may be shared). Two workers
(``python -m fleetgraph worker``, one consumer group, no web server) start;
once both hold source partitions in the same generation, the rest of the
stream is published; the test waits until the store they both write holds the
embedded runner's graph (compared without the provenance source), and checks
that every malformed message is on the dead-letter topic with its reason.

Needs Kafka on 127.0.0.1:9092 (``fleetgraph stack up --only kafka``): skipped
without it; with FLEETGRAPH_REQUIRE_STACK=1 it is started (``fleetgraph.infra.containers``)
and the test fails when it cannot be.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import TopicNames, delete_topics, ensure_topics
from fleetgraph.schemas.topics import Topic
from fleetgraph.settings import Settings
from tests.kafka.fleet import fleet_messages, run_embedded_on
from tests.kafka.graph_rows import differences, read_rows_without_source, rows_without_source

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
KAFKA_PORT = int(os.environ.get("FLEETGRAPH_KAFKA_PORT") or 9092)
PARTITIONS = 4
ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = re.compile(r"fleetgraph assignment generation=(\d+) (.*)")


def _kafka_bootstrap() -> str:
    """The broker to use: started when FLEETGRAPH_REQUIRE_STACK=1 (a failure to start
    fails the test), else the one answering on the port, else skip."""
    if os.environ.get("FLEETGRAPH_REQUIRE_STACK") == "1":
        from fleetgraph.infra.containers import endpoints_for_tests

        return endpoints_for_tests(["kafka"]).kafka_bootstrap_servers
    try:
        with socket.create_connection((HOST, KAFKA_PORT), timeout=2.0):
            return f"{HOST}:{KAFKA_PORT}"
    except OSError as exc:
        pytest.skip(f"Kafka is not reachable on {HOST}:{KAFKA_PORT}: {exc}; "
                    "run `fleetgraph stack up --only kafka`")


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    bootstrap = _kafka_bootstrap()
    prefix = f"fgtest-{uuid.uuid4().hex[:10]}."
    settings = Settings().updated(
        kafka={"bootstrap": bootstrap, "topic_prefix": prefix, "consumer_group": f"{prefix}ingest"},
        ingest={"dedup_window_s": 1.0}, data_dir=tmp_path)
    yield settings
    names = TopicNames(prefix)
    asyncio.run(delete_topics(bootstrap, [*names.all(FLEET),
                                          f"{settings.kafka.consumer_group}-dedup-changelog"]))


def _start_worker(settings: Settings, db: Path, log: Path, index: int) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "fleetgraph", "worker", "--role", "all",
            "--db", str(db),
            "--bootstrap", settings.kafka.bootstrap, "--topic-prefix", settings.kafka.topic_prefix,
            "--group", settings.kafka.consumer_group,
            "--dedup-window", str(settings.ingest.dedup_window_s),
            "--data-dir", str(settings.data_dir / f"worker-{index}"), "--loglevel", "info"]
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def _assignments(log: Path, source_topic: str) -> dict[int, set[int]]:
    """generation -> the source topic's partitions this worker got in it."""
    found: dict[int, set[int]] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = ASSIGNMENT.search(line)
        if match:
            parts = dict(item.split("=", 1) for item in match.group(2).split(" ") if "=" in item)
            found[int(match.group(1))] = {int(p) for p in parts.get(source_topic, "").split(",")
                                          if p}
    return found


def _wait_for_split(logs: list[Path], source_topic: str, timeout_s: float) -> dict[int, set[int]]:
    """Both workers hold disjoint shares of the source partitions in one generation."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        first, second = (_assignments(log, source_topic) for log in logs)
        for generation in sorted(set(first) & set(second), reverse=True):
            a, b = first[generation], second[generation]
            if a and b and not a & b and a | b == set(range(PARTITIONS)):
                return {0: a, 1: b}
        time.sleep(0.5)
    tails = "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)
    pytest.fail(f"the two workers did not split the partitions in {timeout_s:.0f} s:\n{tails}")


async def _read_dead_letters(settings: Settings) -> list[dict[str, Any]]:
    """Every record on the dead-letter topic, up to its end offsets now."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = TopicNames(settings.kafka.topic_prefix).deadletter
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    records: list[dict[str, Any]] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                records.extend(json.loads(m.value) for m in messages)
    finally:
        await consumer.stop()
    return records


def _stop(workers: list[subprocess.Popen[bytes]]) -> list[int | None]:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    codes = []
    for worker in workers:
        try:
            codes.append(worker.wait(timeout=60))
        except subprocess.TimeoutExpired:
            worker.kill()
            codes.append(worker.wait())
    return codes


def _log_tail(log: Path, chars: int = 6000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def test_two_workers_split_the_partitions_and_store_the_embedded_graph(
    settings: Settings, tmp_path: Path
) -> None:
    end_us = (int(time.time()) // 60 * 60 - 3 * 3600) * 1_000_000  # validated as recent
    messages = list(fleet_messages(end_us))
    embedded = run_embedded_on(messages, tmp_path / "embedded.sqlite")
    expected = rows_without_source(embedded.store)
    expected_dead = Counter((r["reason"], r["payload_b64"]) for r in embedded.dead_letters.records)
    assert sum(len(rows) for rows in expected.values()) > 1000 and expected_dead

    names = TopicNames(settings.kafka.topic_prefix)
    assert ensure_topics(settings.kafka.bootstrap, names, FLEET, PARTITIONS) == PARTITIONS
    # the side input first: workers read all of the inventory before processing
    inventory = [(t, p) for t, p, _ in messages if t == "inventory"]
    assert publish_messages(settings, inventory) == len(inventory)

    db = tmp_path / "graph.sqlite"
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers = [_start_worker(settings, db, log, i) for i, log in enumerate(logs)]
    try:
        split = _wait_for_split(logs, names.source(Topic.TELEMETRY), timeout_s=120)
        rest = [(t, p) for t, p, _ in messages if t != "inventory"]
        assert publish_messages(settings, rest) == len(rest)

        deadline = time.monotonic() + 300  # generous: a 2-core machine, busy in CI
        diff = ["nothing read yet"]
        while diff and time.monotonic() < deadline:
            time.sleep(2)
            if db.exists():
                diff = differences(expected, read_rows_without_source(db, embedded.store))
            assert all(w.poll() is None for w in workers), "a worker died"
        assert diff == [], "\n".join(diff) + "".join(
            f"\n--- {log.name}:\n{_log_tail(log)}" for log in logs)

        # at least once: a message processed again after a rebalance is dead-lettered again
        # the graph can converge before the workers' last dead letters reach the topic
        deadline = time.monotonic() + 60
        while True:
            dead = asyncio.run(asyncio.wait_for(_read_dead_letters(settings), 60))
            found = set(Counter((r["reason"], r["payload_b64"]) for r in dead))
            if found == set(expected_dead) or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert found == set(expected_dead)
        prefix = re.escape(settings.kafka.topic_prefix)
        assert all(re.fullmatch(rf"{prefix}\w+/\d+/\d+", r["source"]) for r in dead)
    finally:
        codes = _stop(workers)
    assert codes == [0, 0], [log.read_text(errors="replace")[-3000:] for log in logs]
    assert all(split.values())
