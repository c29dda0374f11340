"""A real worker's /metrics (Kafka from the running stack, the embedded store): after it
has read a small fleet, its events by outcome add up to what it received, its dead
letters by reason are those on the dead-letter topic, every partition's lag is 0; with
FLEETGRAPH_LOG_FORMAT=json its log lines (Faust's included) are JSON objects.

Needs Kafka (as tests/integration/test_kafka_pipeline.py): skipped without it, started
or failed with FLEETGRAPH_REQUIRE_STACK=1.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import TopicNames, ensure_topics
from fleetgraph.settings import Settings
from tests.integration.test_kafka_pipeline import (
    PARTITIONS,
    ROOT,
    _read_dead_letters,
    settings,  # noqa: F401 - the fixture
)
from tests.kafka.fleet import fleet_messages

pytestmark = pytest.mark.integration
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Samples | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def labelled(found: Samples, name: str) -> dict[tuple[str, ...], float]:
    return {tuple(v for _, v in labels): value for (n, labels), value in found.items()
            if n == name}


def test_a_workers_metrics_match_its_dead_letter_topic(
        settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    end_us = (int(time.time()) // 60 * 60 - 3 * 3600) * 1_000_000
    messages = list(fleet_messages(end_us))
    names = TopicNames(settings.kafka.topic_prefix)
    assert ensure_topics(settings.kafka.bootstrap, names, FLEET, PARTITIONS) == PARTITIONS
    inventory = [(t, p) for t, p, _ in messages if t == "inventory"]
    rest = [(t, p) for t, p, _ in messages if t != "inventory"]
    assert publish_messages(settings, inventory + rest) == len(messages)

    port = free_port()
    log = tmp_path / "worker.log"
    args = [sys.executable, "-m", "fleetgraph", "worker", "--role", "all",
            "--db", str(tmp_path / "graph.sqlite"), "--metrics-port", str(port),
            "--bootstrap", settings.kafka.bootstrap,
            "--topic-prefix", settings.kafka.topic_prefix,
            "--group", settings.kafka.consumer_group, "--dedup-window", "1",
            "--data-dir", str(tmp_path / "worker"), "--exit-when-idle", "12"]
    last: Samples | None = None
    with log.open("wb") as out:
        env = {**os.environ, "FLEETGRAPH_LOG_FORMAT": "json"}
        worker = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                  env=env)
        try:
            deadline = time.monotonic() + 300
            while worker.poll() is None and time.monotonic() < deadline:
                found = scrape(port)
                last = found or last
                time.sleep(1.0)
        finally:
            if worker.poll() is None:
                worker.kill()
            code = worker.wait()
    tail = log.read_text(errors="replace")[-4000:]
    assert code == 0, tail
    assert last is not None, tail

    events = {k: v for k, v in labelled(last, "fleetgraph_ingest_events_total").items()}
    received = events["received", "process"]
    assert received >= len(messages)  # a partition read again counts its messages again
    assert received == sum(events[o, "process"] for o in ("accepted", "filtered",
                                                          "dead_lettered"))
    assert events["stored", "store"] > 0
    assert last["fleetgraph_ingest_freshness_seconds_count", ()] == events["stored", "store"]

    dead = asyncio.run(asyncio.wait_for(_read_dead_letters(settings), 60))
    on_topic = Counter(r["reason"] for r in dead)
    assert on_topic
    assert {k[0]: v for k, v in labelled(last, "fleetgraph_dead_letters_total").items()} \
        == on_topic

    lag = labelled(last, "fleetgraph_consumer_lag")
    assert {topic for group, _, topic in lag if group == "process"} == set(names.sources)
    assert all(v == 0 for v in lag.values()), lag

    records = [json.loads(line) for line in log.read_text(errors="replace").splitlines()
               if line.startswith("{")]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    mine = [r["message"] for r in records if r["logger"] == "fleetgraph.worker"]
    assert any(m.startswith("fleetgraph assignment") for m in mine), tail
    assert any(m.startswith("worker stopped") for m in mine), tail
    assert any(r["logger"].startswith(("faust", "mode", "aiokafka")) for r in records), tail
    text_lines = [line for line in log.read_text(errors="replace").splitlines()
                  if line.startswith("[20")]  # the text format's "[<time>] [pid] ..."
    assert not text_lines, text_lines[:5]
