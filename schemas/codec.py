"""Avro single-object encoding of events, with fastavro.

Every message is ``C3 01`` + the 8-byte CRC-64-AVRO fingerprint of the writer's
schema (little endian) + the Avro binary body, as the Avro specification's
single-object encoding prescribes. A reader looks the fingerprint up among the
schemas it knows; an unknown fingerprint is refused with a clear error rather
than misread. Writer and reader schemas are resolved by Avro's rules, so a
reader on version N reads messages written with version N+1 (new fields carry
defaults) and the other way round.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from fleetgraph.core.errors import FleetgraphError
from fleetgraph.schemas.fastread import Reader, compile_reader, items_take_a_byte
from fleetgraph.schemas.topics import RECORD_OF_TOPIC, TOPIC_OF_RECORD, Topic

MAGIC = b"\xc3\x01"
HEADER_LENGTH = len(MAGIC) + 8
EVENTS_DIR = Path(__file__).parent / "events"


class SchemaError(FleetgraphError):
    """A message could not be encoded or decoded with the known schemas."""


class UnknownSchemaError(SchemaError):
    """A message names a writer schema this reader does not know."""


@dataclass(frozen=True)
class KnownSchema:
    name: str  # full record name
    version: int
    parsed: dict[str, Any]
    fingerprint: bytes
    # generated once: reads a body of this schema as its own reader (None: fastavro only)
    fast: Reader | None = field(default=None, compare=False, repr=False)
    # every array item and map entry takes a byte: a body's length bounds its strings'
    # lengths and its arrays' and maps' sizes
    bounded: bool = False


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    canonical = to_parsing_canonical_form(parse_schema(schema))
    return struct.pack("<Q", int(fingerprint(canonical, "CRC-64-AVRO"), 16))


def _version_of(path: Path) -> int:
    # telemetry.v3.avsc -> 3
    try:
        return int(path.suffixes[-2].lstrip(".v"))
    except (IndexError, ValueError):
        raise SchemaError(f"{path.name}: expected a name like 'telemetry.v1.avsc'") from None


class EventCodec:
    """Encodes events with the newest schema of each record; decodes any known one,
    resolved to the reader's version."""

    def __init__(
        self,
        schemas: Iterable[tuple[dict[str, Any], int]],
        *,
        read_as: Mapping[str, int] | None = None,
        fast_readers: bool = True,
    ) -> None:
        """``schemas`` are (schema, version) pairs; ``read_as`` pins the version a
        record is read as (default: its newest), as an older reader would;
        ``fast_readers``: read a message whose writer schema is the reader's with code
        generated for that schema (``fleetgraph.schemas.fastread``: the same events,
        and fastavro's errors), else with fastavro alone."""
        self._by_fingerprint: dict[bytes, KnownSchema] = {}
        self._newest: dict[str, KnownSchema] = {}
        self._reader: dict[str, KnownSchema] = {}
        for raw, version in schemas:
            parsed = cast(dict[str, Any], parse_schema(raw))
            name = str(parsed["name"])
            known = KnownSchema(name, version, parsed, schema_fingerprint(raw),
                                compile_reader(parsed) if fast_readers else None,
                                items_take_a_byte(parsed))
            self._by_fingerprint[known.fingerprint] = known
            if name not in self._newest or self._newest[name].version < version:
                self._newest[name] = known
        pinned = read_as or {}
        for known in self._by_fingerprint.values():
            wanted = pinned.get(known.name, self._newest[known.name].version)
            if known.version == wanted:
                self._reader[known.name] = known
        missing = set(pinned) - set(self._reader)
        if missing:
            raise SchemaError(f"read_as names versions that are not given: {sorted(missing)}")

    @property
    def record_names(self) -> list[str]:
        return sorted(self._newest)

    def newest(self, record_name: str) -> KnownSchema:
        try:
            return self._newest[record_name]
        except KeyError:
            raise UnknownSchemaError(f"no schema for record {record_name!r}") from None

    def reader_of(self, record_name: str) -> KnownSchema | None:
        """The schema a record is read as (its writer's messages are read without
        resolution), or None for a record this codec does not know."""
        return self._reader.get(record_name)

    def encode(self, topic: Topic | str, event: dict[str, Any]) -> bytes:
        """Encode an event for a source topic with that topic's newest schema."""
        return self.encode_record(RECORD_OF_TOPIC[Topic(topic)], event)

    def encode_record(self, record_name: str, event: dict[str, Any]) -> bytes:
        known = self.newest(record_name)
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(known.fingerprint)
        try:
            fastavro.schemaless_writer(buf, known.parsed, event)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SchemaError(f"cannot encode {record_name}: {exc}") from exc
        return buf.getvalue()

    def decode(self, payload: bytes) -> tuple[str, dict[str, Any]]:
        """Decode a message into (record name, event), resolving to our newest schema."""
        name, event, _ = self.decode_bounded(payload)
        return name, event

    def decode_bounded(self, payload: bytes) -> tuple[str, dict[str, Any], int | None]:
        """:meth:`decode`, and a bound of the event's sizes when one is known: no string
        of the event is longer (in characters), no array or map holds more items (the
        body's length, when the event is the writer's record as written and every item
        of its arrays and maps takes a byte); else None."""
        if len(payload) < HEADER_LENGTH or payload[:2] != MAGIC:
            raise SchemaError(
                "not an Avro single-object message (expected the C3 01 marker "
                f"and an 8-byte schema fingerprint, got {payload[:10].hex() or 'nothing'})"
            )
        fp = payload[2:HEADER_LENGTH]
        writer = self._by_fingerprint.get(fp)
        if writer is None:
            raise UnknownSchemaError(
                f"unknown writer schema fingerprint {fp.hex()}; this reader knows "
                f"{len(self._by_fingerprint)} schemas ({', '.join(self.record_names)})"
            )
        reader = self._reader[writer.name]
        if reader is writer and writer.fast is not None:
            # the generated reader; anything it does not read cleanly to the payload's
            # end is decoded again below, by fastavro, whose answer or error counts
            try:
                event, end = writer.fast(payload, HEADER_LENGTH)
            except Exception:
                pass
            else:
                if end == len(payload):
                    return writer.name, event, (end - HEADER_LENGTH if writer.bounded
                                                else None)
        body = io.BytesIO(payload)
        body.seek(HEADER_LENGTH)
        try:
            if reader is writer:
                event = fastavro.schemaless_reader(body, writer.parsed)
            else:
                event = fastavro.schemaless_reader(body, writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeError, ...
            raise SchemaError(f"cannot decode {writer.name} v{writer.version}: {exc!r}") from exc
        if body.tell() != len(payload):
            raise SchemaError(
                f"{len(payload) - body.tell()} trailing bytes after a {writer.name} record"
            )
        if not isinstance(event, dict):
            raise SchemaError(f"{writer.name} did not decode to a record")
        return writer.name, event, None

    def topic_of(self, record_name: str) -> Topic:
        try:
            return TOPIC_OF_RECORD[record_name]
        except KeyError:
            raise SchemaError(f"record {record_name!r} belongs to no source topic") from None


def read_schema_file(path: Path) -> dict[str, Any]:
    with path.open() as f:
        schema: dict[str, Any] = json.load(f)
    return schema


def load_event_codec(directory: Path = EVENTS_DIR) -> EventCodec:
    """A codec knowing every ``*.vN.avsc`` under ``directory``."""
    files = sorted(directory.glob("*.avsc"))
    if not files:
        raise SchemaError(f"no Avro schemas in {directory}")
    return EventCodec((read_schema_file(p), _version_of(p)) for p in files)
