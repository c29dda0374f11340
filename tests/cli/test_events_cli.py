"""JSON-lines logs from the command line: convert both ways (exact), ingest them as the
Avro log is ingested (the Avro log's ingest is the reference), bad lines dead-lettered
with their line number, standard input, a topic's fields, publish without Kafka."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetgraph.cli.main import cli
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import read_dead_letters
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import RECORD_OF_TOPIC, Topic
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.kafka.graph_rows import differences, rows_without_source

CODEC = load_event_codec()


@pytest.fixture(scope="module")
def avro_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated fleet with malformed messages (some are no events at all)."""
    where = tmp_path_factory.mktemp("log")
    result = CliRunner().invoke(cli, ["--data-dir", str(where), "simulate", "--sites", "2",
                                      "--hours", "2", "--malformed-rate", "0.03",
                                      "--out", str(where / "fleet.avro")])
    assert result.exit_code == 0, result.output
    return where / "fleet.avro"


def invoke(tmp: Path, *args: str, input: bytes | None = None) -> str:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp), *args], input=input)
    assert result.exit_code == 0, result.output
    return result.output


def test_avro_to_json_lines_and_back_gives_the_same_log(avro_log: Path, tmp_path: Path) -> None:
    invoke(tmp_path, "events", "convert", str(avro_log), str(tmp_path / "fleet.jsonl"))
    invoke(tmp_path, "events", "convert", str(tmp_path / "fleet.jsonl"),
           str(tmp_path / "again.avro"))
    original = [(m.topic, m.payload) for m in read_event_log(avro_log)]
    again = [(m.topic, m.payload) for m in read_event_log(tmp_path / "again.avro")]
    assert again == original

    lines = [json.loads(line) for line in (tmp_path / "fleet.jsonl").read_text().splitlines()]
    assert len(lines) == len(original)
    raw = [line for line in lines if "payload_b64" in line]
    undecodable = 0
    for _topic, payload in original:
        try:
            CODEC.decode(payload)
        except Exception:
            undecodable += 1
    assert 0 < undecodable <= len(raw)  # what does not decode is kept as its bytes
    events = [line for line in lines if "payload_b64" not in line]
    for line in events[:50]:  # a line is the topic and the fields of its record, by name
        fields = [f["name"] for f in CODEC.newest(RECORD_OF_TOPIC[Topic(line["topic"])])
                  .parsed["fields"]]
        assert list(line) == ["topic", *fields]

    # and JSON lines -> Avro -> JSON lines gives the same text
    invoke(tmp_path, "events", "convert", str(tmp_path / "again.avro"),
           str(tmp_path / "again.ndjson"))
    assert (tmp_path / "again.ndjson").read_text() == (tmp_path / "fleet.jsonl").read_text()


def test_ingesting_json_lines_stores_what_the_avro_log_stores(avro_log: Path,
                                                              tmp_path: Path) -> None:
    invoke(tmp_path, "events", "convert", str(avro_log), str(tmp_path / "fleet.jsonl"))
    (tmp_path / "a").mkdir()
    (tmp_path / "j").mkdir()
    from_avro = invoke(tmp_path / "a", "ingest", "--fresh", str(avro_log))
    from_lines = invoke(tmp_path / "j", "ingest", "--fresh", str(tmp_path / "fleet.jsonl"))
    counts = [re.findall(r"ingested [\d,]+ messages|: [^(]*$", out, re.M)
              for out in (from_avro, from_lines)]
    assert counts[0] == counts[1] and counts[0]
    a = SQLiteGraphStore(FLEET, tmp_path / "a" / "graph.sqlite")
    j = SQLiteGraphStore(FLEET, tmp_path / "j" / "graph.sqlite")
    assert differences(rows_without_source(a), rows_without_source(j)) == []
    assert a.count("node_rack") > 0
    letters_a = read_dead_letters(tmp_path / "a" / "dead-letters.jsonl")
    letters_j = read_dead_letters(tmp_path / "j" / "dead-letters.jsonl")
    assert Counter(r["reason"] for r in letters_a) == Counter(r["reason"] for r in letters_j)
    a.close()
    j.close()


GOOD = {"topic": "inventory", "event_id": "i1", "event_time": 1_764_633_600_000_000,
        "kind": "installed", "component_id": "site:s1", "attributes": {"name": "north"}}


def line(**changes: object) -> str:
    return json.dumps({**GOOD, **changes})


def test_a_bad_line_is_dead_lettered_with_its_line_number_and_the_rest_goes_on(
        tmp_path: Path) -> None:
    log = tmp_path / "mine.jsonl"
    rack = {"component_id": "rack:r1", "parent_id": "site:s1", "event_id": "i2",
            "attributes": {"capacity_kw": "250"}}
    log.write_text("\n".join([
        line(),                                          # 1
        "{not json",                                     # 2
        line(topic="weather"),                           # 3
        "",                                              # 4: blank, skipped
        line(event_time="yesterday", event_id="i9"),     # 5
        line(colour="red", event_id="i8"),               # 6: no such field
        line(**rack),                                    # 7
        line(**{**rack, "event_id": "i3", "component_id": "rack:r2",
                "attributes": {"capacity_kw": 250}}),    # 8: a number, not a string
    ]) + "\n")
    output = invoke(tmp_path, "ingest", "--fresh", str(log))
    assert "ingested 7 messages" in output
    assert "2 accepted" in output and "5 dead-lettered" in output
    letters = read_dead_letters(tmp_path / "dead-letters.jsonl")
    assert [(r["source"], r["reason"]) for r in letters] == [
        ("mine.jsonl:2", "bad_json"), ("mine.jsonl:3", "unknown_topic"),
        ("mine.jsonl:5", "wrong_type"), ("mine.jsonl:6", "unknown_field"),
        ("mine.jsonl:8", "wrong_type")]
    assert all(r["detail"].startswith(f"line {r['source'].split(':')[1]}: ") for r in letters)
    assert "event_time" in letters[2]["detail"] and "'colour'" in letters[3]["detail"]
    assert 'attributes["capacity_kw"] is 250: expected a string' in letters[4]["detail"]
    shown = json.loads(invoke(tmp_path, "deadletters", "show", "2"))
    assert shown["payload"]["text"] == line(event_time="yesterday", event_id="i9")
    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    stored = store.get_nodes(["site:s1", "rack:r1", "rack:r2"])
    assert sorted(stored) == ["rack:r1", "site:s1"]
    assert stored["rack:r1"].props["capacity_kw"] == 250.0
    store.close()


def test_standard_input_needs_a_format_and_then_reads(tmp_path: Path) -> None:
    text = (line() + "\n").encode()
    refused = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "ingest", "-"], input=text)
    assert refused.exit_code != 0
    output = invoke(tmp_path, "ingest", "--fresh", "--format", "jsonl", "-", input=text)
    assert "1 accepted" in output
    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    assert store.get_nodes(["site:s1"])["site:s1"].props["name"] == "north"
    store.close()


def test_an_unknown_attribute_is_reported_and_the_event_kept(tmp_path: Path) -> None:
    log = tmp_path / "mine.jsonl"
    log.write_text(line(attributes={"name": "north", "colour": "red"}) + "\n")
    output = invoke(tmp_path, "ingest", "--fresh", str(log))
    assert "1 accepted" in output and "0 dead-lettered" in output
    assert "warning: 1 accepted events were stored in part (unknown_attribute 1)" in output
    letters = read_dead_letters(tmp_path / "dead-letters.jsonl")
    assert [(r["source"], r["reason"]) for r in letters] == [("mine.jsonl:1",
                                                              "unknown_attribute")]


def test_convert_names_bad_lines_and_fails(tmp_path: Path) -> None:
    log = tmp_path / "mine.jsonl"
    log.write_text(line() + "\n" + line(kind="bought") + "\n")
    result = CliRunner().invoke(cli, ["events", "convert", str(log), str(tmp_path / "o.avro")])
    assert result.exit_code == 1
    assert "mine.jsonl: wrong_type: line 2: kind is \"bought\"" in result.output
    assert len(list(read_event_log(tmp_path / "o.avro"))) == 1


def test_schema_prints_a_topics_fields_from_its_avsc() -> None:
    result = CliRunner().invoke(cli, ["events", "schema", "jobs"])
    assert result.exit_code == 0, result.output
    for field in CODEC.newest(RECORD_OF_TOPIC[Topic.JOBS]).parsed["fields"]:
        assert f"  {field['name']} " in result.output
    props = CliRunner().invoke(cli, ["events", "schema", "--node", "rack"])
    assert all(f"  {p.name} " in props.output for p in FLEET.node("rack").props)


def test_publish_without_kafka_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    """In a process of its own: what the user sees on the terminal, the client's own
    log lines included."""
    log = tmp_path / "mine.jsonl"
    log.write_text(line() + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGRAPH_")}
    env["FLEETGRAPH_KAFKA_BOOTSTRAP"] = "127.0.0.1:9"  # nothing listens on port 9
    done = subprocess.run([sys.executable, "-m", "fleetgraph", "--data-dir", str(tmp_path),
                           "publish", str(log)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot publish to Kafka at 127.0.0.1:9" in lines[0]


def test_publish_refuses_a_log_with_bad_lines_before_sending(tmp_path: Path) -> None:
    log = tmp_path / "mine.jsonl"
    log.write_text(line() + "\n{\n")
    result = CliRunner(env={"FLEETGRAPH_KAFKA_BOOTSTRAP": "127.0.0.1:9"}).invoke(
        cli, ["publish", str(log)])
    assert result.exit_code == 1
    assert "nothing was sent" in result.output and "line 2" in result.output
