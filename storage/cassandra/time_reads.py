"""A window read through the time index: only the pairs whose interval can overlap.

For a window ``[start, end)`` on a temporal edge type, an edge overlaps only if its
``valid_to`` is empty or after ``start``. The ``open`` partition of each id holds every
pair whose live ``valid_to`` is empty (and perhaps a few more); the ``ends`` partitions
from ``start``'s day on hold every end written after ``start`` (``schema.periods_after``).
Their union is a superset of the answer; the live rows of those pairs are then read
by key, batched per partition, and filtered with the window's rule as before, so
the result is the one a whole-partition read gives. A window without a start, or
reaching back more than MAX_PERIODS days, reads the whole partitions (the old way);
so does an id with more than WHOLE_PARTITION_AFTER candidates (a rack's servers,
nearly all open: whole partitions take fewer requests than keys). So does a side
with fewer than INDEX_MIN_BUCKETS buckets (an unbucketed side: a rack's servers, a
component's faults): its partitions are small, and reading them whole takes one round
trip where the index takes two (index, then rows), which a walk pays at every hop. So
does a wide side whose ``Wide`` says no ``window_index`` (what a site holds: open edges
the index would name nearly all of; the store decides, store.py).

Every read goes through :class:`~fleetgraph.storage.cassandra.partition_reads.PartitionReads`:
when every node holds every row, the index partitions of many ids (and all their
periods) are named in one SELECT, and the live rows of many ids' candidates too
(``near IN ? AND bucket IN ? AND far IN ?``, the union of their candidates: a row
of one id whose far id is another's candidate is kept only when it is its own);
otherwise one token-aware SELECT per partition, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.storage.base import Direction, TimeWindow
from fleetgraph.storage.cassandra.partition_reads import (
    PARTITIONS_PER_SELECT,
    PartitionReads,
    Read,
)
from fleetgraph.storage.cassandra.rows import edge_record
from fleetgraph.storage.cassandra.schema import (
    EdgeNamespace,
    Table,
    periods_after,
    stable_bucket,
)

MAX_PERIODS = 62  # a window reaching back further reads whole partitions
KEYS_PER_SELECT = 100  # far ids in one ``IN ?`` read of live rows
WHOLE_PARTITION_AFTER = 4 * KEYS_PER_SELECT  # more candidates: read the partitions whole
# A side with fewer buckets a node reads its partitions whole, without the index: one
# round trip, not two (a walk's hop waits for both); its partitions are the small ones
# (a rack's servers, a component's faults), the wide sides are bucketed (schema.WIDE_EDGES).
INDEX_MIN_BUCKETS = 2
Job = tuple[Any, tuple[Any, ...] | None]


def usable(window: TimeWindow | None, now_us: int, buckets: int | None = None) -> bool:
    """Whether the index narrows this window's read (of a side with ``buckets``
    partitions a node: fewer than INDEX_MIN_BUCKETS read whole instead)."""
    if window is None or window.start is None:
        return False
    if buckets is not None and buckets < INDEX_MIN_BUCKETS:
        return False
    return len(periods_after(window.start, now_us)) <= MAX_PERIODS + 3


def read_window(
    reads: PartitionReads,
    edge_type: str,
    namespace: EdgeNamespace,
    direction: Direction,
    ids: Sequence[str],
    window: TimeWindow,
    now_us: int,
) -> tuple[dict[str, list[EdgeRecord]], int]:
    """The live edges of ``ids`` overlapping ``window`` (sorted by the far end), and
    how many rows were fetched (index and live)."""
    assert namespace.index is not None and window.start is not None
    ends, open_t = namespace.index.side(direction)
    periods = periods_after(window.start, now_us)
    near, far = open_t.partition_key[0], open_t.clustering[-1]
    opened, ended = reads.read_together([  # one round trip
        Read(f"SELECT {near}, {far} FROM {open_t.qualified}", open_t.partition_key,
             list(ids), []),
        Read(f"SELECT {near}, {far} FROM {ends.qualified}", ends.partition_key, list(ids),
             periods, " AND valid_to > ?", (window.start,)),
    ], f"read the {edge_type} time index")
    fetched = 0
    candidates: dict[str, set[str]] = {}
    for near_id in opened:
        rows = opened[near_id] + ended[near_id]
        fetched += len(rows)
        candidates[near_id] = {row[1] for row in rows}
    table = namespace.side(direction)
    result: dict[str, list[EdgeRecord]] = {near_id: [] for near_id in candidates}
    whole = [n for n, fars in candidates.items() if len(fars) > WHOLE_PARTITION_AFTER]
    rows_of: dict[str, list[Any]] = {}
    if whole:  # mostly open edges: fewer requests whole
        select = f"SELECT {', '.join(table.select_columns)} FROM {table.qualified}"
        rows_of.update(reads.read(select, table.partition_key, whole, range(table.buckets),
                                  action=f"read {edge_type} edges"))
    keyed = {n: fars for n, fars in candidates.items()
             if fars and len(fars) <= WHOLE_PARTITION_AFTER}
    for near_id, rows in _read_keys(reads, edge_type, table, keyed).items():
        rows_of.setdefault(near_id, []).extend(rows)
    for near_id, rows in rows_of.items():
        fetched += len(rows)
        edges = result[near_id]
        for row in rows:
            record = edge_record(edge_type, table, row, now_us)
            if record is not None and window.overlaps(
                record.props.get(VALID_FROM), record.props.get(VALID_TO)
            ):
                edges.append(record)
    for near_id, edges in result.items():
        edges.sort(key=lambda e: e.other(near_id))
    return result, fetched


def _read_keys(
    reads: PartitionReads, edge_type: str, table: Table, candidates: dict[str, set[str]]
) -> dict[str, list[Any]]:
    """The live rows of each near id's candidate far ids, read by key: per (near,
    bucket) partition, or, grouped, for several near ids at once (``KEYS_PER_SELECT``
    far ids, ``PARTITIONS_PER_SELECT`` partitions a SELECT); only each id's own
    candidates are kept."""
    found: dict[str, list[Any]] = {}
    if not candidates:
        return found
    jobs: list[Job] = []
    near, far = table.partition_key[0], table.clustering[-1]
    columns = f"SELECT {', '.join(table.select_columns)} FROM {table.qualified}"
    if not reads.grouped:
        select = reads.prepare(f"{columns} WHERE {near} = ? AND bucket = ? AND {far} IN ?")
        for near_id, fars in candidates.items():
            by_bucket: dict[int, list[str]] = {}
            for far_id in sorted(fars):
                by_bucket.setdefault(stable_bucket(far_id, table.buckets), []).append(far_id)
            for bucket, in_bucket in by_bucket.items():
                for i in range(0, len(in_bucket), KEYS_PER_SELECT):
                    jobs.append((select, (near_id, bucket, in_bucket[i : i + KEYS_PER_SELECT])))
    else:
        select = reads.prepare(f"{columns} WHERE {near} IN ? AND bucket IN ? AND {far} IN ?")
        width = max(1, PARTITIONS_PER_SELECT // table.buckets)
        group: list[str] = []
        keys: set[str] = set()

        def flush() -> None:
            if group:
                buckets = sorted({stable_bucket(k, table.buckets) for k in keys})
                jobs.append((select, (list(group), buckets, sorted(keys))))
                group.clear()
                keys.clear()

        for near_id, fars in candidates.items():
            if group and (len(group) >= width or len(keys | fars) > KEYS_PER_SELECT):
                flush()
            if len(fars) > KEYS_PER_SELECT:  # alone, in slices of its keys
                ordered = sorted(fars)
                for i in range(0, len(ordered), KEYS_PER_SELECT):
                    group.append(near_id)
                    keys.update(ordered[i : i + KEYS_PER_SELECT])
                    flush()
                continue
            group.append(near_id)
            keys.update(fars)
        flush()
    far_at = 1  # select_columns: near id, far id, ...
    for rows in reads.run(jobs, f"read {edge_type} edges"):
        for row in rows:
            if row[far_at] in candidates[row[0]]:
                found.setdefault(row[0], []).append(row)
    return found
