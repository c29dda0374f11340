"""An upsert as CQL writes: one UPDATE per event time, one for "created".

Every statement carries ``USING TIMESTAMP <event time in µs>``, so Cassandra's
last-write-wins per cell merges replays, duplicates and out-of-order events to
the same graph. A merged upsert (``prop_ts``) holds properties of several event
times: each time gets its own statement. The newest write's provenance goes to
``updated_at`` and ``latest`` at the upsert's ``ts``; the oldest write to
``created`` at the inverted timestamp ``2**62 - created_at``, so there the oldest wins.
Types with a TTL expire from event time: ``USING TTL`` is what is left of it.
Their history tables get one row per write (``plan_history``), kept for what is
left of the history retention. A temporal type's time index gets its entries from
the same upsert (``plan_index``): an ``ends`` row for a written ``valid_to``, and
the ``open`` cell at a timestamp derived from the event time so that it is live
exactly when the live row's ``valid_to`` is empty (README.md). A wide side's bucket
directory gets a row for the bucket the edge goes to (``plan_directory``), at the
upsert's newest event time and expiring no sooner than the edge's cells there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.graph_model.types import VALID_TO, GraphModelError, Prop, PropKind
from fleetgraph.storage.base import Direction, StorageError
from fleetgraph.storage.cassandra.schema import (
    CREATED,
    CREATED_TS_BASE,
    LATEST,
    SEEN,
    SEP,
    TS,
    WRITTEN,
    DirectoryTable,
    EdgeNamespace,
    Table,
    TimeIndex,
    period_of,
    stable_bucket,
)
from fleetgraph.storage.history import Write as HistoryWrite
from fleetgraph.storage.history import writes_of

MAX_TTL_S = 20 * 365 * 24 * 3600  # Cassandra's upper bound for a TTL
_EXACT = {PropKind.STRING: str, PropKind.INT: int, PropKind.TIME: int,
          PropKind.FLOAT: float, PropKind.BOOL: bool}


class Write(NamedTuple):
    """One UPDATE of one row: ``params`` binds [ttl,] timestamp, values, then the key;
    ``partition`` is (table, partition key values)."""

    table: Table
    columns: tuple[str, ...]
    params: tuple[Any, ...]
    partition: tuple[Any, ...]


def remaining_ttl(ttl_seconds: int | None, event_time: int, now_us: int) -> int | None:
    """Seconds a cell written for ``event_time`` has left to live; 0 once expired,
    None for types that never expire.

    The cell dies at the first whole second at or after event time + TTL (the
    same second for every write of that event time, so Cassandra's tie-break on
    expiry time agrees across writers whose clocks are in the same second)."""
    if not ttl_seconds:
        return None
    dies_us = event_time + ttl_seconds * 1_000_000
    if dies_us <= now_us:
        return 0
    return min(-(-dies_us // 1_000_000) - now_us // 1_000_000, MAX_TTL_S)


def encode_latest(p: Provenance) -> str:
    """(event_id, source, event_time, writer) as one string that sorts like the tuple."""
    if SEP in p.event_id or SEP in p.source:
        raise StorageError(f"event id and source may not contain NUL: {p.event_id!r}")
    return SEP.join((p.event_id, p.source, str(p.event_time), p.writer))


def decode_latest(value: str) -> Provenance:
    event_id, source, event_time, writer = value.split(SEP, 3)
    return Provenance(event_id, source, int(event_time), writer)


def encode_created(created_at: int, created_by: str) -> str:
    return f"{created_at}{SEP}{created_by}"


def decode_created(value: str) -> tuple[int, str]:
    created_at, created_by = value.split(SEP, 1)
    return int(created_at), created_by


def cql_value(prop: Prop, value: Any) -> Any:
    """A property value as its column's type (ints for doubles and the like)."""
    if value is None or type(value) is _EXACT[prop.kind]:
        return value
    try:
        return prop.kind.coerce(value)
    except GraphModelError as exc:
        raise StorageError(f"property {prop.name!r}: {exc}") from exc


def plan_node(table: Table, n: NodeUpsert, now_us: int) -> list[Write]:
    return plan_row(table, (n.id,), n.props, n.ts, n, now_us)


def plan_edge(namespace: EdgeNamespace, e: EdgeUpsert, now_us: int) -> list[Write]:
    """The same row in both adjacency tables."""
    out_t, in_t = namespace.out_edges, namespace.in_edges
    out_key = (e.from_id, stable_bucket(e.to_id, out_t.buckets), e.to_id)
    in_key = (e.to_id, stable_bucket(e.from_id, in_t.buckets), e.from_id)
    return [
        *plan_row(out_t, out_key, e.props, e.ts, e, now_us),
        *plan_row(in_t, in_key, e.props, e.ts, e, now_us),
        *(plan_index(namespace.index, e, now_us) if namespace.index is not None else ()),
        *plan_directory(namespace, e.from_id, e.to_id, max((e.prop_ts or {}).values(),
                                                           default=e.ts), now_us),
    ]


def plan_directory(namespace: EdgeNamespace, from_id: str, to_id: str, at: int,
                   now_us: int) -> list[Write]:
    """The bucket directory's row for an edge (or history row) written at ``at`` (its
    newest event time): the wide side's near id and the bucket the edge goes to, at
    timestamp ``at`` and with what is left of the directory's TTL from there. Cells of
    the edge are written at ``at`` or before with a TTL no longer, so the entry outlives
    them (the newest write of an entry wins and dies last). Nothing for a type without a
    wide side."""
    directory = namespace.directory
    if directory is None:
        return []
    inward = directory.partition_key[0] == "to_id"
    near, far = (to_id, from_id) if inward else (from_id, to_id)
    side = namespace.in_edges if inward else namespace.out_edges
    return plan_directory_entry(directory, near, stable_bucket(far, side.buckets), at, now_us)


def plan_directory_entry(directory: DirectoryTable, near: str, bucket: int, at: int,
                         now_us: int) -> list[Write]:
    """One entry of a bucket directory, written at ``at`` (nothing once expired)."""
    ttl = remaining_ttl(directory.ttl_seconds, at, now_us)
    if ttl == 0:
        return []
    using = (at,) if ttl is None else (ttl, at)
    return [Write(directory, (SEEN,), (*using, True, near, bucket),
                  (directory.qualified, near))]


def distinct_entries(writes: list[Write]) -> list[Write]:
    """``writes`` with one bucket directory entry per (directory, near id, bucket): the
    newest (then the longest-lived), which outlives the others. Other writes as they
    were, in order."""
    newest: dict[tuple[Any, ...], Write] = {}
    kept: list[Write] = []
    for write in writes:
        if not isinstance(write.table, DirectoryTable):
            kept.append(write)
            continue
        key = (write.table.qualified, *write.params[-2:])
        other = newest.get(key)
        if other is None or _when(write) > _when(other):
            newest[key] = write
    return kept + list(newest.values())


def _when(write: Write) -> tuple[int, int]:
    """(timestamp, TTL) of a directory entry (no TTL: forever)."""
    if write.table.ttl_seconds:
        return write.params[1], write.params[0]
    return write.params[0], 0


OPEN_UNTOUCHED_TS = 1  # a write that leaves valid_to alone: below every touching write


def open_timestamp(event_time: int, valid_to: int | None) -> int:
    """The ``open`` cell's write timestamp for a write that sets ``valid_to``: twice the
    event time, so that at one event time a reopening (+3) beats a close (+2) and the
    index errs on the side of a candidate too many; above OPEN_UNTOUCHED_TS."""
    return max(2 * event_time, 0) + (3 if valid_to is None else 2)


def plan_index(
    index: TimeIndex, e: EdgeUpsert, now_us: int,
    valid_to_ts: int | None = None,
) -> list[Write]:
    """The upsert's time index entries, in both directions, from its own values.

    ``open``: a write setting ``valid_to`` empty sets the cell at ``open_timestamp``,
    one setting it deletes the cell there, and one leaving it alone sets the cell at
    OPEN_UNTOUCHED_TS (so it is live while no write ever set ``valid_to``): the same
    last-write-wins as the live row's ``valid_to`` cell. ``ends``: one row per written
    ``valid_to``, never removed (a later change of the end leaves a stale row, which
    the read filters out after fetching the live row). ``valid_to_ts`` overrides the
    event time of ``valid_to`` (reindexing from a live row)."""
    written = VALID_TO in e.props
    end = e.props.get(VALID_TO)
    end = None if end is None else int(end)
    at = valid_to_ts if valid_to_ts is not None else (e.prop_ts or {}).get(VALID_TO, e.ts)
    writes = []
    for direction in (Direction.OUT, Direction.IN):
        ends, open_t = index.side(direction)
        near, far = (e.from_id, e.to_id) if direction is Direction.OUT else (e.to_id, e.from_id)
        if not written:
            cell: tuple[Any, ...] = (OPEN_UNTOUCHED_TS, True)
        else:
            cell = (open_timestamp(at, end), True if end is None else None)
        writes.append(Write(open_t, ("seen",), (*cell, near, far), (open_t.qualified, near)))
        if end is not None:
            period = period_of(end, now_us)
            writes.append(Write(ends, ("seen",), (at, True, near, period, end, far),
                                (ends.qualified, near, period)))
    return writes


def plan_row(
    table: Table,
    key: tuple[Any, ...],
    props: dict[str, Any],
    ts: int,
    upsert: NodeUpsert | EdgeUpsert,
    now_us: int,
) -> list[Write]:
    """Property values grouped by event time, one statement per group; properties
    the type does not declare are ignored (as the embedded store does)."""
    prop_ts = upsert.prop_ts or {}
    partition = (table.qualified, *key[: len(table.partition_key)])
    groups: dict[int, list[tuple[str, Any]]] = {ts: []}
    for prop in table.props:
        if prop.name in props:
            at = prop_ts.get(prop.name, ts)
            groups.setdefault(at, []).append((f"p_{prop.name}", cql_value(prop, props[prop.name])))
    groups[ts] += [(TS, ts), (LATEST, encode_latest(upsert.provenance))]
    writes = []
    for at, cells in groups.items():
        ttl = remaining_ttl(table.ttl_seconds, at, now_us)
        if ttl == 0:
            continue  # expired already: Cassandra would drop it, the embedded store hides it
        using = (at,) if ttl is None else (ttl, at)
        columns = tuple(c for c, _ in cells)
        writes.append(Write(table, columns, (*using, *(v for _, v in cells), *key), partition))
    ttl = remaining_ttl(table.ttl_seconds, ts, now_us)
    if ttl == 0:
        return writes
    created_at, created_by = upsert.created or (ts, upsert.provenance.event_id)
    inverted = CREATED_TS_BASE - created_at
    using = (inverted,) if ttl is None else (ttl, inverted)
    created = encode_created(created_at, created_by)
    writes.append(Write(table, (CREATED,), (*using, created, *key), partition))
    return writes


def plan_history(namespace: EdgeNamespace, e: EdgeUpsert, now_us: int) -> list[Write]:
    """The upsert's history rows (``fleetgraph.storage.history.writes_of``) in both history
    tables; nothing for a type without history or a write past the retention."""
    if namespace.history is None:
        return []
    return plan_history_writes(namespace, writes_of(e), now_us)


def plan_history_writes(namespace: EdgeNamespace, kept: Iterable[HistoryWrite],
                        now_us: int) -> list[Write]:
    """The history rows of these writes (``plan_history``; the bulk copy of a store's
    history, ``bulk.py``, gives them as read)."""
    if namespace.history is None:
        return []
    out_t, in_t = namespace.history
    writes = []
    for w in kept:
        ttl = remaining_ttl(out_t.ttl_seconds, w.ts, now_us)
        if ttl == 0:
            continue
        using = (w.ts,) if ttl is None else (ttl, w.ts)
        props = {p.name: p for p in out_t.props}
        cells = [(f"p_{name}", cql_value(props[name], value))
                 for name, value in w.props.items() if value is not None and name in props]
        cells += [(WRITTEN, ",".join(sorted(w.props))), (LATEST, encode_latest(w.provenance))]
        columns = tuple(c for c, _ in cells)
        values = tuple(v for _, v in cells)
        event_id = w.provenance.event_id
        out_key = (w.from_id, w.ts, w.to_id, event_id)
        in_key = (w.to_id, stable_bucket(w.from_id, in_t.buckets), w.ts, w.from_id, event_id)
        writes.append(Write(out_t, columns, (*using, *values, *out_key),
                            (out_t.qualified, w.from_id)))
        writes.append(Write(in_t, columns, (*using, *values, *in_key),
                            (in_t.qualified, *in_key[:2])))
        writes += plan_directory(namespace, w.from_id, w.to_id, w.ts, now_us)
    return writes


def plan_reindex_row(
    index: TimeIndex, from_id: str, to_id: str, valid_to: int | None, written_at: int,
    now_us: int,
) -> list[Write]:
    """The index entries of one live row (``fleetgraph storage reindex``): as if its
    ``valid_to`` (empty or not) had been written at ``written_at`` (the cell's
    WRITETIME, or the row's newest write when empty). An entry a later write
    contradicts loses to it or is filtered out by reads; none is missed."""
    upsert = EdgeUpsert("", from_id, to_id, {VALID_TO: valid_to}, written_at,
                        Provenance("reindex", "reindex", written_at, "reindex"))
    return plan_index(index, upsert, now_us, valid_to_ts=written_at)
