"""What the reliability drills share: fresh topics, worker processes, the
consumer group's progress, the dead-letter topic, the reference graph.

Workers run as ``python -m fleetgraph worker`` subprocesses (so they can be
killed with SIGKILL) with a short Kafka session timeout: after a kill the group
drops the dead member within seconds instead of Faust's default minute.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.base import GraphStore, StorageError
from fleetgraph.storage.checksum import TableDigest, graph_digests, without_source
from tests.integration.test_kafka_pipeline import _read_dead_letters

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4
ASSIGNED = re.compile(r"fleetgraph assignment generation=\d+ \S")
# Faust reads these from the environment: a SIGKILLed member leaves the group
# after 10 s (the default, 60 s, would stall every restart for a minute)
FAST_GROUP = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}

Messages = list[tuple[str, bytes, str | None]]  # (source topic, payload, defect)


def recent_config(**overrides: Any) -> SimulationConfig:
    """A fleet whose events end an hour ago: the validator takes them as recent,
    and TTL'd edges (cached_at) are alive in every store."""
    end_us = (int(time.time()) // 60 * 60 - 3600) * 1_000_000
    values: dict[str, Any] = {"seed": 13, "sites": 4, "hours": 3.0, "end_time_us": end_us,
                              "malformed_rate": 0.0, **overrides}
    return SimulationConfig(**values)


def simulated(config: SimulationConfig) -> Messages:
    return [(str(t), p, d) for t, p, d in simulate_messages(config, load_event_codec())]


def digests(store: GraphStore) -> dict[str, TableDigest]:
    """Per-namespace digests without the provenance source (Kafka positions differ
    from the embedded runner's)."""
    return graph_digests(store, FLEET, without_source(store))


def digests_now(store: GraphStore) -> dict[str, TableDigest] | None:
    """``digests``, or None while the store's own session is still reconnecting."""
    try:
        return digests(store)
    except StorageError:
        return None


def stored_by_the_embedded_runner(messages: Messages, store: GraphStore) -> dict[str, TableDigest]:
    """Run the embedded runner's stages over ``messages`` into ``store`` (none may be
    refused): the reference graph of a drill, as its digests."""
    refused = DeadLetterList()
    pipeline = Pipeline(FLEET, load_event_codec(), StoreSink(store), refused)
    listed = [Message(t, p, f"sim:{i}") for i, (t, p, _) in enumerate(messages)]
    run_embedded(pipeline, lambda: listed)
    assert refused.records == []
    return digests(store)


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 1.0,
             alive: Callable[[], str | None] = lambda: None,
             detail: Callable[[], str] = lambda: "") -> float:
    """Poll ``check`` until true; the seconds it took (printed, for the drill's timings)."""
    started = time.monotonic()
    while not check():
        problem = alive()
        assert problem is None, problem
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s\n{detail()}")
        time.sleep(every_s)
    took = time.monotonic() - started
    print(f"drill: {what}: {took:.1f} s")
    return took


@dataclass
class Drill:
    """Fresh topics and group on the test's Kafka; workers started in it."""

    settings: Settings
    work: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def names(self) -> TopicNames:
        return TopicNames(self.settings.kafka.topic_prefix)

    def start_worker(self, *args: str, env: dict[str, str] | None = None
                     ) -> subprocess.Popen[bytes]:
        index = len(self.workers)
        log = self.work / f"worker-{index}.log"
        command = [sys.executable, "-m", "fleetgraph", "worker", "--role", "all",
                   "--bootstrap", self.settings.kafka.bootstrap,
                   "--topic-prefix", self.settings.kafka.topic_prefix,
                   "--group", self.settings.kafka.consumer_group, "--dedup-window", "1",
                   "--partitions", str(PARTITIONS),
                   "--data-dir", str(self.work / f"worker-{index}"), "--loglevel", "info",
                   *args]
        with log.open("wb") as out:
            worker = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                      env={**os.environ, **FAST_GROUP, **(env or {})})
        self.workers.append(worker)
        self.logs.append(log)
        return worker

    def log_of(self, worker: subprocess.Popen[bytes], tail: int = 4000) -> str:
        return self.logs[self.workers.index(worker)].read_text(errors="replace")[-tail:]

    def wait_assigned(self, worker: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
        """Until the worker logs an assignment with partitions in it."""
        log = self.logs[self.workers.index(worker)]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ASSIGNED.search(log.read_text(errors="replace")):
                return
            assert worker.poll() is None, f"the worker died:\n{self.log_of(worker)}"
            time.sleep(0.3)
        pytest.fail(f"no partitions assigned in {timeout_s:.0f} s:\n{self.log_of(worker)}")

    def wait_exit(self, worker: subprocess.Popen[bytes], timeout_s: float) -> int:
        try:
            return worker.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not finish in {timeout_s:.0f} s:\n"
                        f"{self.log_of(worker)}")

    def committed(self, topics: Sequence[str]) -> int:
        """Source offsets the group has committed on ``topics`` (summed)."""
        return asyncio.run(_committed(self.settings, set(topics)))

    def dead_letters(self) -> list[dict[str, Any]]:
        return asyncio.run(asyncio.wait_for(_read_dead_letters(self.settings), 60))

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


async def _committed(settings: Settings, topics: set[str]) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.kafka.consumer_group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic in topics)
