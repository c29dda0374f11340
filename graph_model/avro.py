"""Avro schemas of the emitted node and edge records, derived from the registry.

One record schema per node type and per edge type (each goes to its own topic
on Kafka). A record carries the upsert exactly: the properties it sets (in
``props_set``, so "set to empty" differs from "not touched"), their values,
the event time of any property older than the record's ``ts`` (after dedup
merged several events), and the provenance. ``fleetgraph schemas export``
writes them to ``schemas/graph/``; a test keeps that folder in step.
"""

from __future__ import annotations

from typing import Any

from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
from fleetgraph.graph_model.types import EdgeType, NodeType, Prop, PropKind, Registry

AVRO_TYPE = {
    PropKind.STRING: "string",
    PropKind.INT: "long",
    PropKind.FLOAT: "double",
    PropKind.BOOL: "boolean",
    PropKind.TIME: "long",
}
ENVELOPE = [
    {"name": "ts", "type": "long", "doc": "Event time of the newest write, µs."},
    {"name": "event_id", "type": "string"},
    {"name": "source", "type": "string", "doc": "topic/partition/offset or file:index"},
    {"name": "event_time", "type": "long"},
    {"name": "writer", "type": "string"},
    {"name": "created_at", "type": "long"},
    {"name": "created_by", "type": "string"},
    {"name": "props_set", "type": {"type": "array", "items": "string"}, "default": []},
    {"name": "prop_ts", "type": {"type": "map", "values": "long"}, "default": {}},
]


def _prop_fields(props: tuple[Prop, ...]) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "type": ["null", AVRO_TYPE[p.kind]], "default": None,
         **({"doc": p.doc} if p.doc else {})}
        for p in props
    ]


def node_schema(node_type: NodeType) -> dict[str, Any]:
    return {
        "type": "record",
        "name": _camel(node_type.name) + "Node",
        "namespace": "fleetgraph.graph",
        "doc": node_type.doc,
        "fields": [{"name": "id", "type": "string"}, *ENVELOPE,
                   *_prop_fields(node_type.props)],
    }


def edge_schema(edge_type: EdgeType) -> dict[str, Any]:
    return {
        "type": "record",
        "name": _camel(edge_type.name) + "Edge",
        "namespace": "fleetgraph.graph",
        "doc": edge_type.doc,
        "fields": [{"name": "from_id", "type": "string"}, {"name": "to_id", "type": "string"},
                   *ENVELOPE, *_prop_fields(edge_type.props)],
    }


def graph_schemas(registry: Registry) -> dict[str, dict[str, Any]]:
    """``node.<type>`` and ``edge.<type>`` -> Avro schema."""
    schemas = {f"node.{name}": node_schema(t) for name, t in registry.nodes.items()}
    schemas.update({f"edge.{name}": edge_schema(t) for name, t in registry.edges.items()})
    return schemas


def to_record(upsert: Upsert) -> dict[str, Any]:
    p = upsert.provenance
    created_at, created_by = upsert.created or (upsert.ts, p.event_id)
    record: dict[str, Any] = {
        "ts": upsert.ts, "event_id": p.event_id, "source": p.source,
        "event_time": p.event_time, "writer": p.writer,
        "created_at": created_at, "created_by": created_by,
        "props_set": sorted(upsert.props), "prop_ts": dict(upsert.prop_ts or {}),
        **upsert.props,
    }
    if isinstance(upsert, NodeUpsert):
        record["id"] = upsert.id
    else:
        record["from_id"], record["to_id"] = upsert.from_id, upsert.to_id
    return record


def from_record(kind: str, type_name: str, record: dict[str, Any]) -> Upsert:
    """Inverse of :func:`to_record`; ``kind`` is ``node`` or ``edge``."""
    props = {name: record.get(name) for name in record["props_set"]}
    provenance = Provenance(record["event_id"], record["source"], record["event_time"],
                            record["writer"])
    prop_ts = dict(record["prop_ts"]) or None
    created = (record["created_at"], record["created_by"])
    if kind == "node":
        return NodeUpsert(type_name, record["id"], props, record["ts"], provenance, prop_ts,
                          created)
    return EdgeUpsert(type_name, record["from_id"], record["to_id"], props, record["ts"],
                      provenance, prop_ts, created)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
