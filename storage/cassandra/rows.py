"""Rows read back from Cassandra as node and edge records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleetgraph.graph_model.records import EdgeRecord, NodeRecord, Origin
from fleetgraph.storage.cassandra.schema import HISTORY_IN, IN_EDGES, HistoryTable, Table
from fleetgraph.storage.cassandra.writes import decode_created, decode_latest
from fleetgraph.storage.history import Write


def unpack(table: Table, row: Sequence[Any], offset: int, now_us: int) -> tuple[
    dict[str, Any], Origin
] | None:
    """Properties and origin of a row whose ids end at ``offset``; None for a row
    that is not a live record (its newest write expired, or only "created" landed)."""
    names = table.prop_names
    m = offset + len(names)
    ts, latest, created = row[m : m + 3]
    if ts is None or latest is None:
        return None
    ttl_us = table.ttl_us
    if ttl_us and ts + ttl_us <= now_us:
        return None
    values = zip(names, row[offset:m], strict=True)
    props = {name: value for name, value in values if value is not None}
    # "created" outlives or equals the newest write unless its own cell expired
    # (TTL'd types) or its write failed: then the newest write stands in for it
    created_at, created_by = decode_created(created) if created else (ts, "")
    provenance = decode_latest(latest)
    if not created:
        created_by = provenance.event_id
    return props, Origin(created_at, created_by, ts, provenance)


def is_live(table: Table, ts: Any, latest: Any, now_us: int) -> bool:
    """Whether a row's meta columns make a live record: its newest write landed and has
    not expired (``live_created_at`` without decoding the creation)."""
    if ts is None or latest is None:
        return False
    ttl_us = table.ttl_us
    return not (ttl_us and ts + ttl_us <= now_us)


def live_created_at(table: Table, ts: Any, latest: Any, created: Any, now_us: int) -> int | None:
    """When the record of a row's meta columns (``updated_at``, ``latest``, ``created``)
    was first written (``unpack``'s origin ``created_at``); None for a row that is not a
    live record. For the projected reads, which select these and the columns asked."""
    if not is_live(table, ts, latest, now_us):
        return None
    if not created:
        return int(ts)
    return decode_created(created)[0]


def node_record(node_type: str, table: Table, row: Sequence[Any], now_us: int) -> NodeRecord | None:
    unpacked = unpack(table, row, 1, now_us)
    if unpacked is None:
        return None
    props, origin = unpacked
    return NodeRecord(node_type, row[0], props, origin)


def edge_record(edge_type: str, table: Table, row: Sequence[Any], now_us: int) -> EdgeRecord | None:
    unpacked = unpack(table, row, 2, now_us)
    if unpacked is None:
        return None
    props, origin = unpacked
    from_id, to_id = (row[1], row[0]) if table.name == IN_EDGES else (row[0], row[1])
    return EdgeRecord(edge_type, from_id, to_id, props, origin)


def history_write(table: HistoryTable, row: Sequence[Any]) -> Write:
    """A history row (near id, ts, far id, event id, values, written, latest) as a write."""
    near, ts, far = row[0], row[1], row[2]
    from_id, to_id = (far, near) if table.name == HISTORY_IN else (near, far)
    m = 4 + len(table.props)
    written, latest = row[m], row[m + 1]
    names = set(written.split(",")) if written else set()
    props = {p.name: value for p, value in zip(table.props, row[4:m], strict=True)
             if p.name in names}
    return Write(from_id, to_id, ts, props, decode_latest(latest))
