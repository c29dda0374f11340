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

``FLEETGRAPH_CRASH_ROUNDS`` workers (default 2) are killed in a row, each while
the backlog is being processed, at a random point after its first commit: the
twenty-round run is documented in ingest/kafka/README.md ("Crash drill")::

    FLEETGRAPH_REQUIRE_STACK=1 FLEETGRAPH_CRASH_ROUNDS=20 .venv/bin/pytest -q -s \
        -p no:cacheprovider tests/drills/test_crash_replay.py

The stream grows with the rounds (each worker must still have a backlog when
killed) and the drill prints its figure: rounds, messages, lost rows, messages
processed twice (merged), time.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.app import COMMIT_INTERVAL_S
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import ensure_topics
from fleetgraph.schemas.topics import Topic
from fleetgraph.storage.checksum import digest_differences
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.drills.harness import PARTITIONS, Drill, digests, recent_config, simulated
from tests.kafka.fleet import run_embedded_on
from tests.kafka.graph_rows import differences, rows_without_source

pytestmark = pytest.mark.integration
LAST_KILL_AT = 0.6  # share of the shuffled stream committed when the last one is killed
ROUNDS = int(os.environ.get("FLEETGRAPH_CRASH_ROUNDS", "2"))
RECEIVED = re.compile(
    r'^fleetgraph_ingest_events_total\{(?=[^}]*outcome="received")(?=[^}]*stage="process")'
    r'[^}]*\} ([0-9.e+]+)$', re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def received_by(port: int) -> int | None:
    """Source messages the worker serving metrics on ``port`` has processed (None:
    not answering)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    found = RECEIVED.search(text)
    return int(float(found.group(1))) if found else None


# a round is about 40 s here (the dead member's session timeout, the changelog's recovery)
@pytest.mark.timeout(max(900, 300 + 75 * ROUNDS))
def test_workers_killed_mid_stream_in_a_row_and_restarted_store_the_uninterrupted_graph(
    drill: Drill, tmp_path: Path
) -> None:
    assert ROUNDS >= 1, "FLEETGRAPH_CRASH_ROUNDS must be at least 1"
    started = time.monotonic()
    # a backlog left for every round: each round's worker is killed after its first commit,
    # about a commit interval's processing (at 2 s, 20 rounds drained 30 h by round 19);
    # and after the last kill more than a quick worker commits in one interval and the kill's
    # delay (about 10,000 messages a second on a quiet machine: 6 h of 12 sites, 25,589
    # messages, left 10,000 after the last target, all committed before the kill came)
    hours = max(18.0, 6.0 * ROUNDS * COMMIT_INTERVAL_S / 4)
    messages = simulated(recent_config(sites=12, hours=hours, malformed_rate=0.002))
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
    total = len(inventory) + len(stream)

    settings, names = drill.settings, drill.names
    assert ensure_topics(settings.kafka.bootstrap, names, FLEET, PARTITIONS) == PARTITIONS
    assert publish_messages(settings, inventory) == len(inventory)
    db = tmp_path / "graph.sqlite"
    others = [names.source(t) for t in Topic if t != Topic.INVENTORY]
    processed_twice = 0  # by the killed workers: processed, not committed, read again
    committed_sources = 0
    for round_ in range(1, ROUNDS + 1):
        port = free_port()
        worker = drill.start_worker("--db", str(db), "--metrics-port", str(port))
        if round_ == 1:
            drill.wait_assigned(worker)
            assert publish_messages(settings, stream) == len(stream)
        received = _kill_under_load(
            drill, worker, others, after=drill.committed(others),
            target=LAST_KILL_AT * len(stream) * round_ / ROUNDS, port=port,
            delay_s=rng.uniform(0.0, 0.8) if round_ > 1 else 0.0)
        killed = drill.committed(names.sources)
        if received is not None:
            processed_twice += max(0, received - (killed - committed_sources))
        committed_sources = killed
        committed = drill.committed(others)
        assert 0 < committed < len(stream), (round_, committed, len(stream))
        if round_ == 1:
            with SQLiteGraphStore(FLEET, db) as partial:
                assert digests(partial) != expected, "the worker had stored everything already"

    last = drill.start_worker("--db", str(db), "--exit-when-idle", "8")
    assert drill.wait_exit(last, 600) == 0, drill.log_of(last)
    report = re.search(r"'received': (\d+).*'reread': (\d+)", drill.log_of(last))
    assert report, drill.log_of(last)
    # what the stall guard re-read counts twice; messages that never reached the agent
    # the first time not at all, so only the upper bound is firm
    received = int(report.group(1)) - int(report.group(2))
    assert received < total, (
        "the restarted worker must resume from the committed offsets, not from the start")
    assert committed_sources < total

    with SQLiteGraphStore(FLEET, db) as stored:
        diff = digest_differences(expected, digests(stored))
        detail = differences(rows_without_source(reference.store), rows_without_source(stored))
    assert diff == [], "\n".join(diff + detail)

    dead = drill.dead_letters()  # at least once: some may be there twice
    assert {(r["reason"], r["payload_b64"]) for r in dead} == expected_dead
    assert Counter(r["reason"] for r in dead).keys() == reference.dead_letters.counts.keys()
    rows = sum(d.rows for d in expected.values())
    print(f"\ncrash drill: {ROUNDS} kill -9 rounds in a row, {total:,} source messages "
          f"({len(stream) - len(rest):,} of them re-deliveries), {rows:,} graph rows: 0 lost, "
          f"digests equal; at least {processed_twice:,} messages processed by a killed "
          f"worker and again by the next one (merged), {int(report.group(2)):,} re-read by "
          f"the stall guard; {time.monotonic() - started:.0f} s")


def _kill_under_load(drill: Drill, worker: subprocess.Popen[bytes], topics: list[str], *,
                     after: int, target: float, delay_s: float, port: int) -> int | None:
    """SIGKILL ``worker`` once the group's commit on ``topics`` passed both ``after``
    (so this worker is processing) and ``target``, ``delay_s`` later (a random point
    between two commits); return what it had processed just before (its metrics)."""
    deadline = time.monotonic() + 240
    while True:
        committed = drill.committed(topics)
        if committed > after and committed >= target:
            break
        assert worker.poll() is None, f"the worker died:\n{drill.log_of(worker)}"
        assert time.monotonic() < deadline, f"no progress:\n{drill.log_of(worker)}"
        time.sleep(0.2)
    time.sleep(delay_s)
    received = received_by(port)
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL
    return received
