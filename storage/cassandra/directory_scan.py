"""A wide side's bucket directory filled from the rows already stored
(``fleetgraph storage reindex``, after ``storage init`` added the directory beside data
written before it; README.md, "Wide adjacency: buckets").

Every partition of the side (and of its bucketed history table) gets its entry. A
directory that never expires (a type without a TTL, or whose history is kept forever)
needs only the partition keys (``SELECT DISTINCT``); one that expires needs each
partition's newest write, so that the entry is written at that event time with what is
left of the directory's TTL from there, and outlives every row of the partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fleetgraph.storage.base import Direction
from fleetgraph.storage.cassandra.schema import BUCKETS_IN, TS, EdgeNamespace

Entries = dict[tuple[str, int], int]  # (near id, bucket) -> the newest event time there


def scan_cql(namespace: EdgeNamespace) -> list[str]:
    """SELECTs of (near id, bucket[, newest write]) of every row or partition the
    directory of ``namespace`` stands for: the wide side's live table, and its history
    table when that is bucketed."""
    directory = namespace.directory
    assert directory is not None
    direction = Direction.IN if directory.name == BUCKETS_IN else Direction.OUT
    near = directory.partition_key[0]
    tables = [(namespace.side(direction), TS)]
    history = namespace.history_side(direction)
    if history is not None and "bucket" in history.partition_key:
        tables.append((history, "ts"))
    if directory.ttl_seconds is None:
        return [f"SELECT DISTINCT {near}, bucket FROM {table.qualified}" for table, _ in tables]
    return [f"SELECT {near}, bucket, {at} FROM {table.qualified}" for table, at in tables]


def newest_writes(rows: Iterable[Any], now_us: int, into: Entries) -> Entries:
    """Fold scanned rows into ``into``: per (near id, bucket), the newest event time (a
    partition-key row, from ``SELECT DISTINCT``: ``now_us``). A row without a live write
    (only its creation landed) is no entry."""
    for row in rows:
        near, bucket, *written = row
        at = written[0] if written else now_us
        if at is None:
            continue
        key = (near, bucket)
        if at > into.get(key, at - 1):
            into[key] = at
    return into
