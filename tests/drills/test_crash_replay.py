"""Drill: a worker is killed with SIGKILL in the middle of the stream and restarted.

The stream is the simulated fleet (already with late and duplicated
deliveries and some malformed messages) with a tenth of its messages sent a
second time and everything but the inventory shuffled. Once the consumer group
has committed part (not all) of it, the worker gets SIGKILL: its dedup buffer
(memory, written to the changelog only before each commit), its unsent graph
records and unacknowledged sink batches are lost. A new worker in the same
group resumes from the committed offsets and the changelog. The final graph
must be the uninterrupted one: the embedded runner's on the original stream,
digest for digest in every namespace (provenance source aside: Kafka positions
are not ``sim:<n>``), and every malformed message dead-lettered with its reason.
"""

from __future__ import annotations

import random
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import ensure_topics
from fleetgraph.schemas.topics import Topic
from fleetgraph.storage.checksum import digest_differences
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.drills.harness import PARTITIONS, Drill, digests, recent_config, simulated
from tests.kafka.fleet import run_embedded_on
from tests.kafka.graph_rows import differences, rows_without_source

pytestmark = pytest.mark.integration
KILL_AT = 0.3  # share of the shuffled stream committed when the worker is killed


def test_a_worker_killed_mid_stream_and_restarted_stores_the_uninterrupted_graph(
    drill: Drill, tmp_path: Path
) -> None:
    messages = simulated(recent_config(sites=12, hours=6.0, malformed_rate=0.002))
    reference = run_embedded_on(messages, tmp_path / "reference.sqlite")
    expected = digests(reference.store)
    assert sum(d.rows for d in expected.values()) > 5_000
    expected_dead = {(r["reason"], r["payload_b64"]) for r in reference.dead_letters.records}
    assert expected_dead

    inventory = [(t, p) for t, p, _ in messages if t == Topic.INVENTORY]
    rest = [(t, p) for t, p, _ in messages if t != Topic.INVENTORY]
    rng = random.Random(5)
    stream = rest + rng.sample(rest, len(rest) // 10)  # re-deliveries
    rng.shuffle(stream)  # out of order, across topics and partitions

    settings, names = drill.settings, drill.names
    assert ensure_topics(settings.kafka.bootstrap, names, FLEET, PARTITIONS) == PARTITIONS
    assert publish_messages(settings, inventory) == len(inventory)
    db = tmp_path / "graph.sqlite"
    first = drill.start_worker("--db", str(db))
    drill.wait_assigned(first)
    assert publish_messages(settings, stream) == len(stream)

    others = [names.source(t) for t in Topic if t != Topic.INVENTORY]
    deadline = time.monotonic() + 240
    while drill.committed(others) < KILL_AT * len(stream):
        assert first.poll() is None, f"the worker died:\n{drill.log_of(first)}"
        assert time.monotonic() < deadline, f"no progress:\n{drill.log_of(first)}"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    committed = drill.committed(others)
    committed_sources = drill.committed(names.sources)
    assert 0 < committed < len(stream), (committed, len(stream))
    with SQLiteGraphStore(FLEET, db) as partial:
        assert digests(partial) != expected, "the worker had stored everything already"

    second = drill.start_worker("--db", str(db), "--exit-when-idle", "8")
    assert drill.wait_exit(second, 300) == 0, drill.log_of(second)
    report = re.search(r"'received': (\d+).*'reread': (\d+)", drill.log_of(second))
    assert report, drill.log_of(second)
    # what the stall guard re-read counts twice; messages that never reached the agent
    # the first time not at all, so only the upper bound is firm
    received = int(report.group(1)) - int(report.group(2))
    assert received < len(inventory) + len(stream), (
        "the restarted worker must resume from the committed offsets, not from the start")
    assert committed_sources < len(inventory) + len(stream)

    with SQLiteGraphStore(FLEET, db) as stored:
        diff = digest_differences(expected, digests(stored))
        detail = differences(rows_without_source(reference.store), rows_without_source(stored))
    assert diff == [], "\n".join(diff + detail)

    dead = drill.dead_letters()  # at least once: some may be there twice
    assert {(r["reason"], r["payload_b64"]) for r in dead} == expected_dead
    assert Counter(r["reason"] for r in dead).keys() == reference.dead_letters.counts.keys()
