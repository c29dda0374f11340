"""The stored records an audit bundle rests on, as JSON, read back by their keys.

An edge is named by its key ``(type, from, to)``, a node by its id. Both are written
with their properties as stored and their origin (the first and the latest event that
wrote them, the latest with its source position), times in µs since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fleetgraph.graph_model.records import EdgeRecord, NodeRecord, Origin
from fleetgraph.storage.base import Direction, GraphStore

EdgeKey = tuple[str, str, str]  # type, from, to
Json = dict[str, Any]


def origin_json(origin: Origin | None) -> Json | None:
    if origin is None:
        return None
    latest = origin.latest
    return {
        "created_at": origin.created_at,
        "created_by": origin.created_by,
        "updated_at": origin.updated_at,
        "latest": {"event_id": latest.event_id, "source": latest.source,
                   "event_time": latest.event_time, "writer": latest.writer},
    }


def edge_json(record: EdgeRecord) -> Json:
    return {"type": record.type, "from": record.from_id, "to": record.to_id,
            "props": dict(record.props), "origin": origin_json(record.origin)}


def node_json(record: NodeRecord) -> Json:
    return {"type": record.type, "id": record.id, "props": dict(record.props),
            "origin": origin_json(record.origin)}


def edge_key(edge: Mapping[str, Any]) -> EdgeKey:
    """The key of an edge written by :func:`edge_json`."""
    return str(edge["type"]), str(edge["from"]), str(edge["to"])


def describe_edge(key: EdgeKey) -> str:
    edge_type, from_id, to_id = key
    return f"edge {edge_type} {from_id} -> {to_id}"


def read_edges(store: GraphStore, keys: Iterable[EdgeKey]) -> dict[EdgeKey, EdgeRecord]:
    """The stored edges of ``keys`` (those the store no longer holds are left out).

    One ``neighbours`` read per edge type, out of the ``from`` ids."""
    wanted: dict[str, dict[str, set[str]]] = {}
    for edge_type, from_id, to_id in keys:
        wanted.setdefault(edge_type, {}).setdefault(from_id, set()).add(to_id)
    found: dict[EdgeKey, EdgeRecord] = {}
    for edge_type, ends in sorted(wanted.items()):
        lists = store.neighbours(edge_type, sorted(ends), Direction.OUT)
        for from_id, targets in ends.items():
            for record in lists.get(from_id, []):
                if record.to_id in targets:
                    found[(edge_type, from_id, record.to_id)] = record
    return found


def read_nodes(store: GraphStore, ids: Iterable[str]) -> dict[str, NodeRecord]:
    wanted = sorted(set(ids))
    return store.get_nodes(wanted) if wanted else {}
