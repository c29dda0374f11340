"""Stages 1-5 of a telemetry reading in one step: its bytes straight to its upsert.

Two events in three are readings of a modelled metric (a CDU's supply temperature,
a GPU's power, ...): each becomes one node upsert of one property. The general
path makes a fields dict of fifteen, an Event, and walks the validator, the filter
and the mapper for it. :class:`ReadingPath` reads the few fields a reading sets
from the payload and checks them against what the general path has already
learnt (the ids it validated, the properties' domains), and makes the upsert.

It answers only for a reading it is sure of: the telemetry schema's writer is the
codec's reader, every length fits a byte, the other fields are null, the body is
within the size bound, the event id is printable, the time within the limits, the
component and the site ids met before with an allowed type, the metric modelled
for the component's type and the value within its property's domain. On anything
else (another kind, a malformed or doubtful byte, an id not met yet, a value out
of range) it returns None and the caller takes the general path, whose answer
counts (its upsert, filter reason or dead letter): so the pipeline gives the same
graph, counts and dead letters either way (``tests/ingest/test_reading_path.py``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from fleetgraph.core.version import WRITER_VERSION
from fleetgraph.graph_model.records import NodeUpsert, Provenance
from fleetgraph.graph_model.types import PropKind
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.stages.filter import MODELLED_READINGS
from fleetgraph.ingest.stages.to_graph import GraphMapper
from fleetgraph.ingest.stages.validate import HARDWARE, Validator
from fleetgraph.schemas.codec import HEADER_LENGTH, MAGIC, EventCodec
from fleetgraph.schemas.fastread import Malformed, read_long
from fleetgraph.schemas.topics import RECORD_OF_TOPIC, Topic

# the telemetry record as this path reads it: (field, Avro type) in the writer's order
LAYOUT: tuple[tuple[str, Any], ...] = (
    ("event_id", "string"), ("event_time", "long"), ("kind", "enum"),
    ("component_id", "string"), ("site_id", ["null", "string"]),
    ("metric", ["null", "string"]), ("value", ["null", "double"]),
    ("status", ["null", "string"]), ("fault_id", ["null", "string"]),
    ("fault_code", ["null", "string"]), ("severity", ["null", "string"]),
    ("power_headroom_kw", ["null", "double"]), ("thermal_headroom_kw", ["null", "double"]),
    ("battery_soc", ["null", "double"]), ("solar_kw", ["null", "double"]),
)
READING = 0  # the kind's enum index
NULLS_AFTER_VALUE = b"\x00" * (len(LAYOUT) - 7)  # status .. solar_kw, all null
_double = struct.Struct("<d").unpack_from


def _layout_of(schema: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """(name, type) of a parsed record's fields, an enum as ``"enum"`` (its symbols
    checked by the caller)."""
    out = []
    for field in schema["fields"]:
        kind = field["type"]
        if isinstance(kind, dict):
            kind = kind.get("type")
        out.append((field["name"], kind))
    return tuple(out)


class ReadingPath:
    """The upsert of a telemetry message that is a clean reading (see the module's doc),
    made with the general path's validator and mapper (whose learnt ids it reads)."""

    def __init__(self, codec: EventCodec, validator: Validator, mapper: GraphMapper) -> None:
        self.fingerprint = self._fingerprint(codec)
        self.header = MAGIC + (self.fingerprint or b"")  # a message's first bytes
        self.validator = validator
        self.known_ids = validator.known_ids
        self.clock = validator.clock
        self.max_future_us = validator.limits.max_future_s * 1_000_000
        self.max_age_us = validator.limits.max_age_days * 86_400_000_000
        # of a whole message (-1 without a schema to read: no message is answered for)
        self.max_length = -1 if self.fingerprint is None else validator.size_bound + HEADER_LENGTH
        # (component type, metric) -> the bounds of the value, for each modelled reading
        # whose property is a float (as the validator checks it)
        self.bounds: dict[tuple[str, str], tuple[float, float]] = {}
        for node_type, metrics in MODELLED_READINGS.items():
            if node_type not in HARDWARE:
                continue
            for metric in metrics:
                prop = validator.registry.node(node_type).prop(metric)
                if prop.kind is PropKind.FLOAT:
                    self.bounds[(node_type, metric)] = prop.bounds

    @staticmethod
    def _fingerprint(codec: EventCodec) -> bytes | None:
        """The telemetry writer schema this path reads (the codec's reader of telemetry,
        of the layout above, read by the generated reader: its strings are decoded as
        here), or None when there is none: the path then never answers."""
        known = codec.reader_of(RECORD_OF_TOPIC[Topic.TELEMETRY])
        if known is None or known.fast is None or _layout_of(known.parsed) != LAYOUT:
            return None
        symbols = known.parsed["fields"][2]["type"].get("symbols", [])
        if len(symbols) <= READING or symbols[READING] != "reading":
            return None
        return known.fingerprint

    def upsert(self, message: Message) -> NodeUpsert | None:
        """The upsert of ``message`` when it is a clean reading; else None."""
        p = message.payload
        if (len(p) > self.max_length or not p.startswith(self.header)
                or message.topic != Topic.TELEMETRY):
            return None
        try:
            return self._read(p, message.source)
        except (IndexError, UnicodeDecodeError, struct.error, Malformed):  # a malformed body
            return None

    def _read(self, p: bytes, source: str) -> NodeUpsert | None:
        """The upsert of body ``p`` of a telemetry message (its header checked), or None."""
        i = HEADER_LENGTH
        b = p[i]  # event_id: a length under 64 takes one (even) byte
        if b & 0x81:
            return None
        e = i + 1 + (b >> 1)
        event_id = p[i + 1:e].decode()
        if not event_id or not event_id.isprintable():
            return None
        t, i = read_long(p, e + 1, p[e])  # event_time
        if p[i] != READING:
            return None
        b = p[i + 1]  # component_id
        if b & 0x81:
            return None
        e = i + 2 + (b >> 1)
        component = p[i + 2:e].decode()
        b = p[e]  # site_id: null (0) or a string (2)
        if b == 2:
            b = p[e + 1]
            if b & 0x81:
                return None
            i = e + 2 + (b >> 1)
            site = p[e + 2:i].decode()
            if self.known_ids.get(site) != "site":
                return None
        elif b == 0:
            i = e + 1
        else:
            return None
        if p[i] != 2:  # metric: a string
            return None
        b = p[i + 1]
        if b & 0x81:
            return None
        e = i + 2 + (b >> 1)
        metric = p[i + 2:e].decode()
        if p[e] != 2 or p[e + 9:] != NULLS_AFTER_VALUE:  # a double, then nulls to the end
            return None
        value: float = _double(p, e + 1)[0]
        now = self.clock()
        if t > now + self.max_future_us or t < now - self.max_age_us:
            return None
        node_type = self.known_ids.get(component)
        if node_type is None or node_type not in HARDWARE:
            return None
        bounds = self.bounds.get((node_type, metric))
        if bounds is None or not bounds[0] <= value <= bounds[1]:  # NaN is in no range
            return None
        return NodeUpsert(node_type, component, {metric: value}, t,
                          Provenance(event_id, source, t, WRITER_VERSION))


def reading_path(codec: EventCodec, validator: Validator, mapper: GraphMapper
                 ) -> Callable[[Message], NodeUpsert | None] | None:
    """The fast path of readings for a pipeline's stages, or None when they are not the
    stages it stands in for (a validator or mapper of another class, a codec without
    the telemetry layout it reads)."""
    if type(validator) is not Validator or type(mapper) is not GraphMapper:
        return None
    path = ReadingPath(codec, validator, mapper)
    return path.upsert if path.fingerprint is not None else None
