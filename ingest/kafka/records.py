"""Graph records on Kafka: one upsert as one Avro message on its type's topic.

The value is Avro single-object encoded (``C3 01``, the 8-byte CRC-64-AVRO
fingerprint of the type's schema from ``fleetgraph.graph_model.avro``, the schemaless
body), like the source events, so a sink refuses a record written with a
schema it does not know instead of misreading it. The key is the node id, or
an edge's "from" id: an adjacency list's updates share a partition.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, cast

import fastavro
from fastavro.schema import parse_schema

from fleetgraph.graph_model.avro import from_record, graph_schemas, to_record
from fleetgraph.graph_model.records import NodeUpsert, Upsert
from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.schemas.codec import HEADER_LENGTH, MAGIC, schema_fingerprint


@dataclass(frozen=True)
class GraphRecord:
    """One encoded upsert, ready to produce."""

    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class _Schema:
    parsed: dict[str, Any]
    header: bytes


class GraphRecordCodec:
    """Encodes upserts for their per-type topic and decodes them back."""

    def __init__(self, registry: Registry, names: TopicNames) -> None:
        self.names = names
        self._by_type: dict[tuple[str, str], _Schema] = {}
        for qualified, schema in graph_schemas(registry).items():
            kind, type_name = qualified.split(".", 1)
            parsed = cast(dict[str, Any], parse_schema(schema))
            self._by_type[(kind, type_name)] = _Schema(parsed, MAGIC + schema_fingerprint(schema))
        self.topics = names.graph_topics(registry)

    def encode(self, upsert: Upsert) -> GraphRecord:
        if isinstance(upsert, NodeUpsert):
            kind, key = "node", upsert.id
        else:
            kind, key = "edge", upsert.from_id
        schema = self._schema(kind, upsert.type)
        buf = io.BytesIO()
        buf.write(schema.header)
        fastavro.schemaless_writer(buf, schema.parsed, to_record(upsert))
        return GraphRecord(self.names.graph(kind, upsert.type), key.encode(), buf.getvalue())

    def decode(self, topic: str, value: bytes) -> Upsert:
        """The upsert a graph record carries; RejectedEvent when it cannot be read."""
        try:
            kind, type_name = self.topics[topic]
        except KeyError:
            raise RejectedEvent("unknown_graph_topic", f"{topic!r} is no graph topic") from None
        schema = self._schema(kind, type_name)
        if value[:HEADER_LENGTH] != schema.header:
            raise RejectedEvent(
                "unknown_schema", f"{topic}: the record's schema header "
                f"{value[:HEADER_LENGTH].hex()} is not {schema.header.hex()}"
            )
        body = io.BytesIO(value)
        body.seek(HEADER_LENGTH)
        try:
            record = fastavro.schemaless_reader(body, schema.parsed)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeError, ...
            raise RejectedEvent("undecodable", f"{topic}: {exc!r}") from exc
        if not isinstance(record, dict) or body.tell() != len(value):
            raise RejectedEvent("undecodable", f"{topic}: not exactly one record")
        return from_record(kind, type_name, record)

    def _schema(self, kind: str, type_name: str) -> _Schema:
        try:
            return self._by_type[(kind, type_name)]
        except KeyError:
            raise RejectedEvent("unknown_type", f"no {kind} type {type_name!r}") from None
