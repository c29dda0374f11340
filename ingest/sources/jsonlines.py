"""An event log as JSON lines: one event per line, readable and writable by hand.

Each line is a JSON object: ``"topic"`` (telemetry, inventory, jobs or
artifacts) and the fields of that topic's Avro record, by the names of
``schemas/events/*.avsc``::

    {"topic": "inventory", "event_id": "inv-1", "event_time": 1764633600000000,
     "kind": "installed", "component_id": "rack:s0001-r01", "parent_id": "site:s0001"}

A field with a default (``null``, ``[]``, ``{}``) may be left out. A line is
checked against its record (no missing field, no field the record does not
have, every value of its Avro type) and encoded by the event codec into the
very payload an Avro log or Kafka would carry, so the pipeline reads both
formats the same way. A message's source position is ``<file>:<line number>``
(from 1).

A line that is no event (not JSON, an unknown topic, a field the record does
not have, a value of the wrong type) is refused with its line number and the
reason (:class:`BadLine`); the reader hands it to a callback (the ingest's
dead letters) and goes on.

One more form keeps a message that is no event as it was, so that an Avro log
with such messages converts to JSON lines and back byte for byte:
``{"topic": ..., "payload_b64": ...}`` (written by :func:`message_to_line`;
the pipeline dead-letters it as it would the Avro log's message).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Message
from fleetgraph.schemas.codec import EventCodec, SchemaError
from fleetgraph.schemas.topics import RECORD_OF_TOPIC, Topic

RAW = "payload_b64"  # a line that keeps a message that is no event, as its bytes

# reasons a line is refused
BAD_JSON = "bad_json"
UNKNOWN_TOPIC = "unknown_topic"
UNKNOWN_FIELD = "unknown_field"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"


class BadLine(RejectedEvent):
    """A line of a JSON-lines log that is no event of its topic."""


def record_fields(codec: EventCodec, topic: Topic) -> list[dict[str, Any]]:
    """The fields of a topic's newest record, as parsed from its .avsc."""
    fields: list[dict[str, Any]] = codec.newest(RECORD_OF_TOPIC[topic]).parsed["fields"]
    return fields


TOPICS = {t.value: t for t in Topic}


def _topic_of(value: Any) -> Topic:
    topic = TOPICS.get(value) if isinstance(value, str) else None
    if topic is not None:
        return topic
    names = ", ".join(TOPICS)
    if value is None:
        raise BadLine(UNKNOWN_TOPIC, f'a line needs "topic": one of {names}')
    raise BadLine(UNKNOWN_TOPIC, f"topic {value!r} is not one of {names}")


@dataclass(frozen=True)
class _Shape:
    """A record's keys, made once: its field names, those without a default, and the
    records nested in lists (a job's placements)."""

    names: frozenset[str]
    ordered: tuple[str, ...]
    required: tuple[str, ...]
    nested: dict[str, _Shape]

    @classmethod
    def of(cls, fields: list[dict[str, Any]]) -> _Shape:
        nested = {}
        for f in fields:
            t = f["type"]
            if (isinstance(t, dict) and t.get("type") == "array" and isinstance(t["items"], dict)
                    and t["items"].get("type") == "record"):
                nested[f["name"]] = cls.of(t["items"]["fields"])
        ordered = tuple(f["name"] for f in fields)
        return cls(frozenset(ordered), ordered,
                   tuple(f["name"] for f in fields if "default" not in f), nested)

    def check(self, record: Mapping[str, Any], where: str) -> None:
        """No unknown key, no missing field without a default, in the record and in the
        records nested in it."""
        if not self.names.issuperset(record):
            unknown = sorted(set(record) - self.names)
            raise BadLine(UNKNOWN_FIELD, f"{where} has no field "
                          f"{', '.join(map(repr, unknown))} (its fields: "
                          f"{', '.join(self.ordered)})")
        missing = [name for name in self.required if name not in record]
        if missing:
            raise BadLine(MISSING_FIELD, f"{where} needs {', '.join(missing)}")
        for name, shape in self.nested.items():
            value = record.get(name)
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        shape.check(item, f"{name}[{i}]")


def line_to_message(codec: EventCodec, line: str, source: str) -> Message:
    """The message one line makes: its topic and the event's single-object payload.

    Raises :class:`BadLine` when the line is no event of its topic."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadLine(BAD_JSON, f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        hint = (" (a JSON-lines log holds one object per line, not an array)"
                if isinstance(obj, list) else "")
        raise BadLine(BAD_JSON, f"a line must be a JSON object, not {type(obj).__name__}{hint}")
    fields = dict(obj)
    if RAW in fields and len(fields) == 2 and isinstance(fields.get("topic"), str):
        try:  # a message kept as its bytes, on whatever topic it came
            payload = base64.b64decode(str(fields[RAW]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadLine(BAD_JSON, f"{RAW} is not base64: {exc}") from None
        return Message(fields["topic"], payload, source)
    topic = _topic_of(fields.pop("topic", None))
    record_name = RECORD_OF_TOPIC[topic]
    schema = codec.newest(record_name)
    made = _RECORDS.get(schema.fingerprint)
    if made is None:
        made = _RECORDS.setdefault(schema.fingerprint, (_Shape.of(schema.parsed["fields"]),
                                                        _fitter(schema.parsed)))
    shape, fits = made
    shape.check(fields, f"a {topic.value} event")
    if not fits(fields):
        raise BadLine(WRONG_TYPE, _mismatch(fields, schema.parsed, "") or "a value is not "
                      "of its field's Avro type")
    try:
        payload = codec.encode(topic, fields)
    except SchemaError as exc:
        raise BadLine(WRONG_TYPE, str(exc)) from None
    return Message(topic.value, payload, source)


Fits = Callable[[Any], bool]


def _fits(value: Any, avro_type: Any) -> bool:
    """Whether ``value`` is of ``avro_type`` (a parsed schema) exactly: the codec's
    writer would turn 3.5 or true into a long without a word."""
    return _fitter(avro_type)(value)


def _fitter(avro_type: Any) -> Fits:
    """:func:`_fits` for one type, made once: a check per field, no walk of the schema."""
    if isinstance(avro_type, list):
        branches = [_fitter(branch) for branch in avro_type]
        if avro_type[0] == "null" and len(branches) == 2:
            other = branches[1]
            return lambda v: v is None or other(v)
        return lambda v: any(fits(v) for fits in branches)
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        if kind == "record":
            fields = [(f["name"], _fitter(f["type"]), "default" in f)
                      for f in avro_type["fields"]]
            return lambda v: isinstance(v, dict) and all(
                fits(v[name]) if name in v else optional for name, fits, optional in fields)
        if kind == "enum":
            symbols = frozenset(avro_type["symbols"])
            return lambda v: type(v) is str and v in symbols
        if kind == "array":
            item = _fitter(avro_type["items"])
            return lambda v: isinstance(v, list) and all(item(x) for x in v)
        if kind == "map":
            value = _fitter(avro_type["values"])
            return lambda v: isinstance(v, dict) and all(
                type(k) is str and value(x) for k, x in v.items())
        return _fitter(kind)
    return _PRIMITIVE.get(avro_type, _unknown_type)


def _unknown_type(value: Any) -> bool:
    return True  # a named type referred to by its name: the codec's writer judges it


_PRIMITIVE: dict[str, Fits] = {
    "null": lambda v: v is None,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "int": lambda v: type(v) is int and -(2**31) <= v < 2**31,
    "long": lambda v: type(v) is int and -(2**63) <= v < 2**63,
    "float": lambda v: type(v) in (int, float),
    "double": lambda v: type(v) in (int, float),
}
_RECORDS: dict[bytes, tuple[_Shape, Fits]] = {}  # by writer-schema fingerprint


def _mismatch(value: Any, avro_type: Any, path: str) -> str | None:
    """Where ``value`` departs from ``avro_type``, said for a person (None: it fits)."""
    if _fits(value, avro_type):
        return None
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        if kind == "record" and isinstance(value, dict):
            for f in avro_type["fields"]:
                if f["name"] in value:
                    inner = _mismatch(value[f["name"]], f["type"], f"{path}.{f['name']}")
                    if inner is not None:
                        return inner
        if kind == "array" and isinstance(value, list):
            for i, item in enumerate(value):
                inner = _mismatch(item, avro_type["items"], f"{path}[{i}]")
                if inner is not None:
                    return inner
        if kind == "map" and isinstance(value, dict):
            for key, item in value.items():
                inner = _mismatch(item, avro_type["values"], f"{path}[{json.dumps(key)}]")
                if inner is not None:
                    return inner
    shown = json.dumps(value, ensure_ascii=False)
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    return f"{path.lstrip('.') or 'the event'} is {shown}: expected {_expected(avro_type)}"


def _expected(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        return " or ".join(_expected(branch) for branch in avro_type)
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        if kind == "enum":
            return "one of " + ", ".join(avro_type["symbols"])
        if kind == "array":
            return f"a list of {_expected(avro_type['items'])}"
        if kind == "map":
            return f"an object whose values are {_expected(avro_type['values'])}"
        if kind == "record":
            return "an object with " + ", ".join(f["name"] for f in avro_type["fields"])
        return _expected(kind)
    return _SAID.get(avro_type, str(avro_type))


_SAID = {"null": "null", "string": "a string", "boolean": "true or false",
         "int": "an integer (int)", "long": "an integer (long)", "float": "a number",
         "double": "a number"}


def read_json_lines(
    lines: Iterable[bytes],
    codec: EventCodec,
    name: str,
    on_bad_line: Callable[[Message, RejectedEvent], object] | None = None,
) -> Iterator[Message]:
    """The messages of a JSON-lines log (blank lines skipped); each bad line goes to
    ``on_bad_line`` (the line's bytes as the payload, ``<name>:<line>`` as its source)
    and the reading goes on. Without a callback a bad line raises :class:`BadLine`
    naming its line."""
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        source = f"{name}:{number}"
        try:
            yield line_to_message(codec, _text(raw, first=number == 1), source)
        except BadLine as exc:
            refused = BadLine(exc.reason, f"line {number}: {exc.detail}")
            if on_bad_line is None:
                raise refused from None
            on_bad_line(Message(_topic_or_empty(raw), raw.rstrip(b"\r\n"), source), refused)


def _text(raw: bytes, *, first: bool = False) -> str:
    try:  # a file's first line may start with a byte order mark (editors on Windows)
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(BAD_JSON, f"not UTF-8: {exc}") from None


def _topic_or_empty(line: bytes) -> str:
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError, UnicodeDecodeError):
        return ""
    topic = obj.get("topic") if isinstance(obj, dict) else None
    return topic if isinstance(topic, str) and topic in {t.value for t in Topic} else ""


def message_to_line(codec: EventCodec, topic: str, payload: bytes) -> dict[str, Any]:
    """A message as a line: the event with its topic, or, for a message that does not
    decode (or arrived on another record's topic), its bytes as they are."""
    try:
        record_name, fields = codec.decode(payload)
        event_topic = codec.topic_of(record_name)
    except SchemaError:
        return {"topic": topic, RAW: base64.b64encode(payload).decode("ascii")}
    if event_topic.value != topic:
        return {"topic": topic, RAW: base64.b64encode(payload).decode("ascii")}
    return {"topic": topic, **fields}


def write_json_lines(out: IO[str], codec: EventCodec,
                     messages: Iterable[tuple[str, bytes]]) -> tuple[int, int]:
    """Write (topic, payload) pairs as lines; return (events, messages kept as bytes)."""
    events = raw = 0
    for topic, payload in messages:
        line = message_to_line(codec, topic, payload)
        if RAW in line:
            raw += 1
        else:
            events += 1
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return events, raw
