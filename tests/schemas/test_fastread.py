"""The generated Avro readers against fastavro: the same events from random valid
messages of every event schema, and the same answer (event or error) for random
corruptions of them."""

from __future__ import annotations

import random
import re
import string
from typing import Any

import pytest
from fastavro import parse_schema

from fleetgraph.schemas.codec import (
    EVENTS_DIR,
    EventCodec,
    SchemaError,
    load_event_codec,
    read_schema_file,
)
from fleetgraph.schemas.fastread import compile_reader, reader_source

ALPHABET = string.ascii_letters + "é€😀:-_ \u0000"
RECORDS = ["fleetgraph.events.TelemetryEvent", "fleetgraph.events.InventoryEvent",
           "fleetgraph.events.JobEvent", "fleetgraph.events.ArtifactEvent"]


def slow_codec() -> EventCodec:
    """The event codec with fastavro alone."""
    files = sorted(EVENTS_DIR.glob("*.avsc"))
    return EventCodec(((read_schema_file(p), int(p.suffixes[-2].lstrip(".v"))) for p in files),
                      fast_readers=False)


def random_text(rng: random.Random) -> str:
    length = rng.choice([0, 1, 5, 31, 32, 63, 64, 65, 200]) if rng.random() < 0.99 else 9000
    return "".join(rng.choices(ALPHABET, k=length))


def random_long(rng: random.Random, bits: int = 64) -> int:
    edge = [0, 1, -1, 63, -64, 64, -65, 2**31 - 1, -(2**31), 2**(bits - 1) - 1, -(2**(bits - 1))]
    return rng.choice(edge) if rng.random() < 0.4 else rng.randint(-(2**(bits - 1)),
                                                                    2**(bits - 1) - 1)


def random_value(rng: random.Random, schema: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return random_value(rng, rng.choice(schema), named)
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind == "record":
            named[schema["name"]] = schema
            return {f["name"]: random_value(rng, f["type"], named) for f in schema["fields"]}
        if kind == "enum":
            named[schema["name"]] = schema
            return rng.choice(schema["symbols"])
        if kind == "array":
            return [random_value(rng, schema["items"], named)
                    for _ in range(rng.choice([0, 1, 3, 65]))]
        if kind == "map":
            return {random_text(rng): random_value(rng, schema["values"], named)
                    for _ in range(rng.choice([0, 1, 3, 65]))}
        return random_value(rng, kind, named)
    if schema == "null":
        return None
    if schema == "string":
        return random_text(rng)
    if schema == "long":
        return random_long(rng)
    if schema == "int":
        return random_long(rng, 32)
    if schema == "double":
        return rng.choice([0.0, -1.5, 1e300, float("inf"), rng.uniform(-1e6, 1e6)])
    raise AssertionError(f"no random value for {schema!r}")


def messages(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    codec = load_event_codec()
    out = []
    for _ in range(count):
        name = rng.choice(RECORDS)
        event = random_value(rng, codec.newest(name).parsed, {})
        out.append(codec.encode_record(name, event))
    return out


def outcome(codec: EventCodec, payload: bytes) -> tuple[str, Any]:
    try:
        name, event = codec.decode(payload)
    except SchemaError as exc:
        return type(exc).__name__, re.sub(r" at 0x[0-9a-f]+", "", str(exc))  # fastavro's buffer
    return name, repr(event)  # repr: 1 and 1.0, key order, -0.0 and nan tell apart


def test_every_event_schema_has_a_generated_reader() -> None:
    codec = load_event_codec()
    assert all(codec.newest(name).fast is not None for name in RECORDS)


@pytest.mark.parametrize("seed", range(4))
def test_random_messages_decode_as_fastavro_decodes_them(seed: int) -> None:
    fast, slow = load_event_codec(), slow_codec()
    for payload in messages(seed, 150):
        assert outcome(fast, payload) == outcome(slow, payload)
        # the generated reader read it to its end (no fallback to fastavro)
        known = fast._by_fingerprint[payload[2:10]]
        assert known.fast is not None
        event, end = known.fast(payload, 10)
        assert end == len(payload) and event == fast.decode(payload)[1]


@pytest.mark.parametrize("seed", range(4))
def test_corrupted_messages_get_fastavros_answer(seed: int) -> None:
    rng = random.Random(1000 + seed)
    fast, slow = load_event_codec(), slow_codec()
    for payload in messages(seed, 100):
        for _ in range(10):
            body = bytearray(payload)
            how = rng.randrange(4)
            if how == 0:  # truncated
                body = body[:rng.randrange(10, len(body) + 1)]
            elif how == 1:  # bytes changed
                for _ in range(rng.randint(1, 3)):
                    body[rng.randrange(10, len(body))] = rng.randrange(256)
            elif how == 2:  # trailing bytes
                body += bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
            else:  # a long varint or a negative length where a length was
                at = rng.randrange(10, len(body))
                body[at:at] = rng.choice([b"\x01", b"\x03", b"\xff" * 11, b"\x81\x80\x80\x80"
                                          b"\x80\x80\x80\x80\x80\x7f"])
            assert outcome(fast, bytes(body)) == outcome(slow, bytes(body))


def test_schemas_with_types_it_does_not_generate_have_no_reader() -> None:
    for field_type in ["boolean", {"type": "fixed", "name": "F", "size": 4},
                       {"type": "long", "logicalType": "timestamp-micros"}]:
        schema = parse_schema({"type": "record", "name": "R",
                               "fields": [{"name": "x", "type": field_type}]})
        assert compile_reader(schema) is None


def test_nested_named_and_union_types_read_as_fastavro_reads_them() -> None:
    raw = {"type": "record", "name": "Outer", "fields": [
        {"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [
            {"name": "n", "type": "int"}, {"name": "f", "type": "float"},
            {"name": "b", "type": "bytes"}]}},
        {"name": "again", "type": ["null", "Inner"]},
        {"name": "many", "type": ["string", "long", "null", "Inner"]},
        {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "Inner"}}},
    ]}
    assert "def " in reader_source(parse_schema(raw))[0]
    fast = EventCodec([(raw, 1)])
    slow = EventCodec([(raw, 1)], fast_readers=False)
    assert fast.newest("Outer").fast is not None
    inner = {"n": -3, "f": 0.5, "b": b"\x00\xff"}
    for many in ["x", 2**40, None, inner]:
        for again in [None, inner]:
            event = {"inner": inner, "again": again, "many": many,
                     "m": {"k": [inner, inner], "": []}}
            payload = fast.encode_record("Outer", event)
            assert outcome(fast, payload) == outcome(slow, payload)
            assert fast.decode(payload)[1] == event


def sizes(value: Any) -> int:
    """The longest string's length and the largest list's or map's size in ``value``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max([len(value), *map(sizes, value), *map(sizes, value.values())])
    if isinstance(value, list):
        return max([len(value), *map(sizes, value)])
    return 0


@pytest.mark.parametrize("seed", range(2))
def test_the_bound_bounds_every_string_and_list(seed: int) -> None:
    codec = load_event_codec()
    assert all(codec.newest(name).bounded for name in RECORDS)
    for payload in messages(seed, 150):
        _, event, bound = codec.decode_bounded(payload)
        assert bound is not None and sizes(event) <= bound <= len(payload)


def test_no_bound_without_the_generated_reader_or_when_an_item_can_take_no_byte() -> None:
    payload = messages(0, 1)[0]
    assert slow_codec().decode_bounded(payload)[2] is None
    raw = {"type": "record", "name": "R", "fields": [
        {"name": "xs", "type": {"type": "array", "items": {
            "type": "record", "name": "Empty", "fields": [{"name": "n", "type": "null"}]}}}]}
    codec = EventCodec([(raw, 1)])
    many = codec.encode_record("R", {"xs": [{"n": None}] * 5000})
    assert len(many) < 100 and codec.decode_bounded(many)[2] is None
