"""JSON lines: a line is the event the codec would encode, or a refusal with its reason."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.ingest.errors import IngestError, RejectedEvent
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.sources.jsonlines import (
    BadLine,
    line_to_message,
    message_to_line,
    read_json_lines,
)
from fleetgraph.ingest.sources.logs import EventLog, log_format
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator import SimulationConfig, simulate

CODEC = load_event_codec()
END_US = 1_763_700_000_000_000
SIMULATED = list(simulate(SimulationConfig(seed=5, sites=2, hours=2.0, end_time_us=END_US)))
READING = {"topic": "telemetry", "event_id": "e1", "event_time": END_US, "kind": "reading",
           "component_id": "cdu:s1-c1", "metric": "flow_lpm", "value": 100.5}


def test_every_simulated_event_makes_the_codecs_own_payload_and_back() -> None:
    assert {sim.topic for sim in SIMULATED} == set(Topic)
    for n, sim in enumerate(SIMULATED):
        payload = CODEC.encode(sim.topic, sim.event)
        line = json.dumps(message_to_line(CODEC, sim.topic.value, payload))
        message = line_to_message(CODEC, line, f"x:{n}")
        assert (message.topic, message.payload) == (sim.topic.value, payload)


def test_fields_with_defaults_may_be_left_out() -> None:
    message = line_to_message(CODEC, json.dumps(READING), "x:1")
    record, fields = CODEC.decode(message.payload)
    assert record.endswith("TelemetryEvent")
    assert fields["site_id"] is None and fields["value"] == 100.5


def refusal(changes: dict[str, Any] | None = None, text: str | None = None) -> BadLine:
    line = text if text is not None else json.dumps({**READING, **(changes or {})})
    with pytest.raises(BadLine) as refused:
        line_to_message(CODEC, line, "x:1")
    return refused.value


@pytest.mark.parametrize(("changes", "reason", "said"), [
    ({"event_time": 1.5}, "wrong_type", "event_time is 1.5: expected an integer (long)"),
    ({"event_time": True}, "wrong_type", "event_time is true"),
    ({"event_time": 2**64}, "wrong_type", "expected an integer (long)"),
    ({"event_time": "2026-11-20"}, "wrong_type", "event_time is \"2026-11-20\""),
    ({"value": "7"}, "wrong_type", "value is \"7\": expected null or a number"),
    ({"kind": "rumour"}, "wrong_type", "expected one of reading, status"),
    ({"valeu": 1.0}, "unknown_field", "has no field 'valeu'"),
    ({"topic": "weather"}, "unknown_topic", "'weather' is not one of"),
])
def test_a_line_that_is_no_event_is_refused_with_the_reason(
        changes: dict[str, Any], reason: str, said: str) -> None:
    refused = refusal(changes)
    assert refused.reason == reason and said in refused.detail, refused


def test_missing_fields_topic_and_non_objects() -> None:
    fields = {k: v for k, v in READING.items() if k != "event_id"}
    assert refusal(text=json.dumps(fields)).reason == "missing_field"
    assert refusal(text=json.dumps({k: v for k, v in READING.items() if k != "topic"})
                   ).reason == "unknown_topic"
    assert "not an array" in refusal(text="[1, 2]").detail
    assert refusal(text="{'single': 'quotes'}").reason == "bad_json"


def test_nested_records_are_checked_too() -> None:
    job = {"topic": "jobs", "event_id": "j", "event_time": END_US, "kind": "started",
           "job_id": "job:j1", "placement": [{"server_id": "server:s1-r1-n01", "gpus": []}]}
    assert "placement[0] has no field 'gpus'" in refusal(text=json.dumps(job)).detail
    job["placement"] = [{"server_id": "server:s1-r1-n01", "gpu_ids": [3]}]
    assert "placement[0].gpu_ids[0] is 3: expected a string" in refusal(
        text=json.dumps(job)).detail


def test_bad_lines_go_to_the_callback_with_their_line_and_the_rest_is_read() -> None:
    lines = [json.dumps(READING).encode(), b"\n", b"\xff\xfe not utf-8\n", b"{\n",
             ("\ufeff" + json.dumps(READING)).encode(), json.dumps({**READING, "event_id": "e2"}
                                                             ).encode() + b"\r\n"]
    refused: list[tuple[Message, RejectedEvent]] = []
    read = list(read_json_lines(lines, CODEC, "mine.jsonl",
                                lambda m, e: refused.append((m, e))))
    assert [m.source for m in read] == ["mine.jsonl:1", "mine.jsonl:6"]
    assert [(m.source, e.reason, e.detail.split(":")[0]) for m, e in refused] == [
        ("mine.jsonl:3", "bad_json", "line 3"), ("mine.jsonl:4", "bad_json", "line 4"),
        ("mine.jsonl:5", "bad_json", "line 5")]  # a byte order mark only starts a file
    assert refused[1][0].payload == b"{"
    with pytest.raises(BadLine, match="line 3"):
        list(read_json_lines(lines, CODEC, "mine.jsonl"))


def test_a_byte_order_mark_on_the_first_line_is_no_error() -> None:
    line = ("\ufeff" + json.dumps(READING)).encode()
    assert [m.source for m in read_json_lines([line], CODEC, "bom.jsonl")] == ["bom.jsonl:1"]


def test_a_message_that_is_no_event_is_kept_as_its_bytes_whatever_its_topic() -> None:
    for topic, payload in [("telemetry", b"\x00garbage"), ("weather", b"\xc3\x01abc"),
                           ("jobs", CODEC.encode(Topic.TELEMETRY, {
                               k: v for k, v in READING.items() if k != "topic"}))]:
        line = message_to_line(CODEC, topic, payload)
        assert set(line) == {"topic", "payload_b64"}
        message = line_to_message(CODEC, json.dumps(line), "x:1")
        assert (message.topic, message.payload) == (topic, payload)


def test_a_log_read_twice_reports_a_bad_line_once(tmp_path: Path) -> None:
    path = tmp_path / "mine.ndjson"
    path.write_text(json.dumps(READING) + "\nnope\n")
    refused: list[RejectedEvent] = []
    log = EventLog(path, CODEC, on_bad_line=lambda m, e: refused.append(e))
    assert log.format == "jsonl"
    first = list(log())
    path.write_text("")  # the second reading is the first's, checked and encoded once
    assert list(log()) == first and len(first) == 1
    assert len(refused) == 1 and log.bad_lines == 1
    spool = log._spool.path
    assert spool is not None and spool.exists()
    del log
    gc.collect()
    assert not spool.exists()


def test_the_format_goes_by_the_name_or_as_told(tmp_path: Path) -> None:
    assert [log_format(n) for n in ("a.jsonl", "a.NDJSON", "a.json", "a.avro", "a")] == [
        "jsonl", "jsonl", "jsonl", "avro", "avro"]
    assert log_format("a.avro", "jsonl") == "jsonl"
    with pytest.raises(IngestError, match="--format"):
        log_format("-")
    path = tmp_path / "events.log"
    path.write_text(json.dumps(READING) + "\n")
    with pytest.raises(IngestError, match="looks like JSON lines"):
        list(EventLog(path, CODEC)())
