"""Graph records on Kafka: upserts of one type as Avro on their type's topic.

Each upsert is Avro single-object encoded (``C3 01``, the 8-byte CRC-64-AVRO
fingerprint of the type's schema from ``fleetgraph.graph_model.avro``, the schemaless
body), like the source events, so a sink refuses a record written with a
schema it does not know instead of misreading it. A message's value is one such
upsert or several back to back (:meth:`GraphRecordCodec.encode_many`, at most
``PER_MESSAGE`` upserts or ``MESSAGE_BYTES`` bytes): a flush of the dedup buffer
sends a few messages per type, not one per upsert, which is most of what a
message costs the producer, the broker and the sink. A reader takes upserts
until the value ends (:meth:`GraphRecordCodec.decode_all`); one upsert alone is
a batch of one. The key is the node id, or an edge's "from" id, of the first
upsert: the sink's stores merge by event time, so which partition carries which
upsert only spreads the load.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
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


PER_MESSAGE = 500  # upserts in one graph message at most
MESSAGE_BYTES = 256 * 1024  # and about this many bytes (Kafka's default limit is 1 MiB)


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

    def encode_many(self, upserts: Iterable[Upsert]) -> list[GraphRecord]:
        """Upserts as few messages as fit: grouped by type, up to ``PER_MESSAGE`` upserts
        or about ``MESSAGE_BYTES`` bytes each, in their order within a type."""
        by_type: dict[tuple[str, str], list[Upsert]] = {}
        for upsert in upserts:
            kind = "node" if isinstance(upsert, NodeUpsert) else "edge"
            by_type.setdefault((kind, upsert.type), []).append(upsert)
        records: list[GraphRecord] = []
        for (kind, type_name), group in by_type.items():
            schema = self._schema(kind, type_name)
            topic = self.names.graph(kind, type_name)
            buf = io.BytesIO()
            count = 0
            key = b""
            for upsert in group:
                if count == 0:
                    key = _key(upsert).encode()
                buf.write(schema.header)
                fastavro.schemaless_writer(buf, schema.parsed, to_record(upsert))
                count += 1
                if count >= PER_MESSAGE or buf.tell() >= MESSAGE_BYTES:
                    records.append(GraphRecord(topic, key, buf.getvalue()))
                    buf, count = io.BytesIO(), 0
            if count:
                records.append(GraphRecord(topic, key, buf.getvalue()))
        return records

    def decode(self, topic: str, value: bytes) -> Upsert:
        """The upsert a graph record of exactly one carries; RejectedEvent when it
        cannot be read."""
        upserts = self.decode_all(topic, value)
        if len(upserts) != 1:
            raise RejectedEvent("undecodable", f"{topic}: not exactly one record")
        return upserts[0]

    def decode_all(self, topic: str, value: bytes) -> list[Upsert]:
        """The upserts a graph message carries (one or more, back to back);
        RejectedEvent when any cannot be read (the message is refused whole)."""
        try:
            kind, type_name = self.topics[topic]
        except KeyError:
            raise RejectedEvent("unknown_graph_topic", f"{topic!r} is no graph topic") from None
        schema = self._schema(kind, type_name)
        body = io.BytesIO(value)
        end = len(value)
        upserts: list[Upsert] = []
        while True:
            at = body.tell()
            header = value[at : at + HEADER_LENGTH]
            if header != schema.header:
                raise RejectedEvent(
                    "unknown_schema", f"{topic}: the record's schema header "
                    f"{header.hex()} is not {schema.header.hex()}"
                )
            body.seek(at + HEADER_LENGTH)
            try:
                record = fastavro.schemaless_reader(body, schema.parsed)
            except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeError, ...
                raise RejectedEvent("undecodable", f"{topic}: {exc!r}") from exc
            if not isinstance(record, dict) or body.tell() > end:
                raise RejectedEvent("undecodable", f"{topic}: a record runs past the message")
            upserts.append(from_record(kind, type_name, record))
            if body.tell() == end:
                return upserts

    def _schema(self, kind: str, type_name: str) -> _Schema:
        try:
            return self._by_type[(kind, type_name)]
        except KeyError:
            raise RejectedEvent("unknown_type", f"no {kind} type {type_name!r}") from None


def _key(upsert: Upsert) -> str:
    return upsert.id if isinstance(upsert, NodeUpsert) else upsert.from_id
