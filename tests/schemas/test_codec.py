from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.schemas.codec import (
    EVENTS_DIR,
    EventCodec,
    SchemaError,
    UnknownSchemaError,
    load_event_codec,
    read_schema_file,
)

STATUS = {
    "event_id": "e1", "event_time": 1_763_000_000_000_000, "kind": "status",
    "component_id": "cdu:s0001-c1", "status": "fault", "fault_id": "cdu:s0001-c1@x",
}


def telemetry_v1() -> dict[str, Any]:
    return read_schema_file(EVENTS_DIR / "telemetry.v1.avsc")


def telemetry_v2() -> dict[str, Any]:
    schema = copy.deepcopy(telemetry_v1())
    schema["fields"].append(
        {"name": "firmware", "type": ["null", "string"], "default": None}
    )
    return schema


def test_round_trip_every_topic() -> None:
    codec = load_event_codec()
    name, event = codec.decode(codec.encode("telemetry", STATUS))
    assert name == "fleetgraph.events.TelemetryEvent"
    assert {k: event[k] for k in STATUS} == STATUS
    assert event["metric"] is None  # defaults filled


def test_every_schema_file_is_known_to_the_codec() -> None:
    names = {json.loads(p.read_text())["name"] for p in Path(EVENTS_DIR).glob("*.avsc")}
    assert {n.rsplit(".", 1)[1] for n in load_event_codec().record_names} == names


def test_unknown_fingerprint_is_refused_not_misread() -> None:
    codec = load_event_codec()
    payload = bytearray(codec.encode("telemetry", STATUS))
    payload[2:10] = b"\x00" * 8
    with pytest.raises(UnknownSchemaError, match="unknown writer schema fingerprint"):
        codec.decode(bytes(payload))


@pytest.mark.parametrize("cut", [0, 3, 10, 15, -1])
def test_truncated_messages_are_refused(cut: int) -> None:
    codec = load_event_codec()
    payload = codec.encode("telemetry", STATUS)
    with pytest.raises(SchemaError):
        codec.decode(payload[:cut])


def test_trailing_bytes_are_refused() -> None:
    codec = load_event_codec()
    with pytest.raises(SchemaError, match="trailing"):
        codec.decode(codec.encode("telemetry", STATUS) + b"\x00")


def test_encoding_a_bad_record_says_which() -> None:
    with pytest.raises(SchemaError, match="TelemetryEvent"):
        load_event_codec().encode("telemetry", {**STATUS, "kind": "gossip"})


def test_old_reader_reads_what_a_new_writer_wrote() -> None:
    new_writer = EventCodec([(telemetry_v2(), 2)])
    # the old reader knows v2's schema (it is in the registry) but reads as v1
    old_reader = EventCodec([(telemetry_v1(), 1)])
    payload = new_writer.encode("telemetry", {**STATUS, "firmware": "2.1"})
    with pytest.raises(UnknownSchemaError):
        old_reader.decode(payload)  # without the writer schema nothing is guessed
    old_reader_with_registry = EventCodec(
        [(telemetry_v1(), 1), (telemetry_v2(), 2)],
        read_as={"fleetgraph.events.TelemetryEvent": 1},
    )
    _, event = old_reader_with_registry.decode(payload)
    assert "firmware" not in event
    assert event["status"] == "fault"


def test_new_reader_reads_what_an_old_writer_wrote() -> None:
    old_writer = EventCodec([(telemetry_v1(), 1)])
    new_reader = EventCodec([(telemetry_v1(), 1), (telemetry_v2(), 2)])
    _, event = new_reader.decode(old_writer.encode("telemetry", STATUS))
    assert event["firmware"] is None  # the new field's default
    assert event["fault_id"] == "cdu:s0001-c1@x"
