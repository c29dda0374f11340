"""Replays converge: the same events in any order, with duplicates, twice, give
the same stored graph, row for row."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.e2e.fleet_run import ingest, ingest_into, open_store, simulated_messages


def checksum(store: SQLiteGraphStore) -> tuple[int, str]:
    digest = hashlib.sha256()
    rows = 0
    for namespace, row in store.dump():
        digest.update(repr((namespace, row)).encode())
        rows += 1
    return rows, digest.hexdigest()


def test_shuffled_duplicated_replay_twice_leaves_the_store_identical(tmp_path: Path) -> None:
    messages, defects = simulated_messages()
    once, dead_once, report = ingest(messages, tmp_path / "once.sqlite")
    assert report.stats.accepted > 10_000
    assert dead_once.counts.total() == len(defects)

    rng = random.Random(5)
    replayed = open_store(tmp_path / "replayed.sqlite")
    for _ in range(2):
        replay = messages + rng.sample(messages, len(messages) // 10)
        rng.shuffle(replay)
        ingest_into(replayed, replay)

    rows, digest = checksum(once)
    assert rows > 10_000
    assert checksum(replayed) == (rows, digest)
