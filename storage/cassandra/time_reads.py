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
nearly all open: whole partitions take fewer requests than keys).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.storage.base import Direction, TimeWindow
from fleetgraph.storage.cassandra.rows import edge_record
from fleetgraph.storage.cassandra.schema import (
    EdgeNamespace,
    periods_after,
    stable_bucket,
)

MAX_PERIODS = 62  # a window reaching back further reads whole partitions
KEYS_PER_SELECT = 100  # far ids in one ``IN ?`` read of live rows
WHOLE_PARTITION_AFTER = 4 * KEYS_PER_SELECT  # more candidates: read the partitions whole
Job = tuple[Any, tuple[Any, ...] | None]
Run = Callable[[list[Job], str], list[list[Any]]]
Prepare = Callable[[str], Any]


def usable(window: TimeWindow | None, now_us: int) -> bool:
    """Whether the index narrows this window's read."""
    if window is None or window.start is None:
        return False
    return len(periods_after(window.start, now_us)) <= MAX_PERIODS + 3


def read_window(
    run: Run,
    prepare: Prepare,
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
    select_ends, select_open = prepare(ends.select_cql()), prepare(open_t.select_cql())
    periods = periods_after(window.start, now_us)
    nears: list[str] = []
    jobs: list[Job] = []
    for near in ids:
        jobs.append((select_open, (near,)))
        jobs += [(select_ends, (near, period, window.start)) for period in periods]
        nears += [near] * (1 + len(periods))
    fetched = 0
    candidates: dict[str, set[str]] = {near: set() for near in ids}
    for near, rows in zip(nears, run(jobs, f"read the {edge_type} time index"), strict=True):
        fetched += len(rows)
        candidates[near].update(row[0] for row in rows)
    table = namespace.side(direction)
    select = prepare(table.select_keys_cql())
    whole = prepare(table.select_partition_cql())
    jobs, nears = [], []
    for near, fars in candidates.items():
        if len(fars) > WHOLE_PARTITION_AFTER:  # mostly open edges: fewer requests whole
            jobs += [(whole, (near, bucket)) for bucket in range(table.buckets)]
            nears += [near] * table.buckets
            continue
        by_bucket: dict[int, list[str]] = {}
        for far in sorted(fars):
            by_bucket.setdefault(stable_bucket(far, table.buckets), []).append(far)
        for bucket, keys in by_bucket.items():
            for i in range(0, len(keys), KEYS_PER_SELECT):
                jobs.append((select, (near, bucket, keys[i : i + KEYS_PER_SELECT])))
                nears.append(near)
    result: dict[str, list[EdgeRecord]] = {near: [] for near in ids}
    for near, rows in zip(nears, run(jobs, f"read {edge_type} edges"), strict=True):
        fetched += len(rows)
        for row in rows:
            record = edge_record(edge_type, table, row, now_us)
            if record is not None and window.overlaps(
                record.props.get(VALID_FROM), record.props.get(VALID_TO)
            ):
                result[near].append(record)
    for near, edges in result.items():
        edges.sort(key=lambda e: e.other(near))
    return result, fetched
