"""Drill: bad input sent into the source topics of a running worker.

One message per way of being wrong (bytes that are not a readable event, and
readable events the graph must refuse) is published in the middle of a
simulated stream. Each must reach the dead-letter topic with its reason code
(docs/events.md), the worker must keep going, and the rest of the stream must
be stored: the same graph, digest for digest, as the embedded runner's on the
same messages.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import fastavro
import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import ensure_topics
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.codec import HEADER_LENGTH, MAGIC
from fleetgraph.schemas.topics import Topic
from fleetgraph.storage.checksum import digest_differences
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.drills.harness import PARTITIONS, Drill, digests, recent_config, simulated
from tests.kafka.fleet import run_embedded_on

pytestmark = pytest.mark.integration
YEAR_US = 365 * 86_400_000_000


def _bogus(codec: Any, record: str, change: Any) -> Any:
    """The record's schema with ``change(fields)`` applied (for bytes written under
    the real fingerprint with another layout)."""
    real = codec.newest(record).parsed
    schema = {k: v for k, v in real.items() if not k.startswith("__")}
    return fastavro.parse_schema({**schema, "fields": change(list(real["fields"]))})


def b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def bad_cases(reading: dict[str, Any], site: str) -> dict[str, tuple[str, bytes, str]]:
    """case -> (source topic, payload, the dead-letter reason expected), built from a
    good telemetry reading of the stream."""
    codec = load_event_codec()
    good = codec.encode(Topic.TELEMETRY, reading)
    header = good[:HEADER_LENGTH]
    telemetry_record = codec.decode(good)[0]

    def event(n: int, **changes: Any) -> dict[str, Any]:
        return {**reading, "event_id": f"telemetry-drill-{n:03d}", **changes}

    def written(schema: Any, datum: dict[str, Any]) -> bytes:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, schema, datum)
        return header + body.getvalue()

    without_id = _bogus(codec, telemetry_record,
                        lambda fields: [f for f in fields if f["name"] != "event_id"])
    time_as_text = _bogus(codec, telemetry_record, lambda fields: [
        {**f, "type": "string"} if f["name"] == "event_time" else f for f in fields])
    t = reading["event_time"]
    tel = Topic.TELEMETRY.value
    return {
        "truncated Avro": (tel, codec.encode(tel, event(1))[: HEADER_LENGTH + 6], "undecodable"),
        "not Avro at all": (tel, b"{\"event_id\": \"x\"}", "undecodable"),
        "unknown schema fingerprint": (
            tel, MAGIC + bytes(range(1, 9)) + codec.encode(tel, event(2))[HEADER_LENGTH:],
            "unknown_schema"),
        "required Avro field missing": (tel, written(without_id, event(3)), "undecodable"),
        "wrong Avro type": (tel, written(time_as_text, {**event(4), "event_time": str(t)}),
                            "undecodable"),
        "field its kind needs missing": (tel, codec.encode(tel, event(5, metric=None)),
                                         "missing_field"),
        "id of the wrong type": (tel, codec.encode(tel, event(6, component_id="job:j000001")),
                                 "wrong_id_type"),
        "id of an unknown type": (tel, codec.encode(tel, event(7, component_id="toaster:x1")),
                                  "unknown_id_type"),
        "malformed id": (tel, codec.encode(tel, event(8, component_id="no-type-here")),
                         "bad_id"),
        "oversized string": (tel, codec.encode(tel, event(9, metric="m" * 100_000)),
                             "oversized"),
        "oversized attribute": (Topic.INVENTORY.value, codec.encode(Topic.INVENTORY, {
            "event_id": "inventory-drill-010", "event_time": t, "kind": "updated",
            "component_id": site, "parent_id": None, "relation": None, "target_id": None,
            "attributes": {"name": "x" * 100_000}}), "oversized"),
        "far future": (tel, codec.encode(tel, event(11, event_time=t + 50 * YEAR_US)),
                       "from_future"),
        "far past": (tel, codec.encode(tel, event(12, event_time=t - 30 * YEAR_US)), "too_old"),
        "value out of range": (tel, codec.encode(tel, event(13, value=1e12)), "out_of_range"),
    }


def test_bad_messages_are_dead_lettered_with_their_reason_and_the_rest_is_stored(
    drill: Drill, tmp_path: Path
) -> None:
    stream = simulated(recent_config())
    codec = load_event_codec()
    readings = [codec.decode(p)[1] for t, p, _ in stream if t == Topic.TELEMETRY]
    reading = next(e for e in readings if e["kind"] == "reading"
                   and e["metric"] == "supply_temp_c")
    site = next(e["site_id"] for e in readings if e["site_id"])
    cases = bad_cases(reading, site)
    inventory = [(t, p, d) for t, p, d in stream if t == Topic.INVENTORY]
    rest = [(t, p, d) for t, p, d in stream if t != Topic.INVENTORY]
    half = len(rest) // 2
    bad = [(topic, payload, case) for case, (topic, payload, _) in cases.items()]
    messages = inventory + rest[:half] + bad + rest[half:]

    reference = run_embedded_on(messages, tmp_path / "reference.sqlite")
    by_payload = {r["payload_b64"]: r["reason"] for r in reference.dead_letters.records}
    expected_reasons = {case: reason for case, (_, _, reason) in cases.items()}
    assert {case: by_payload.get(b64(p)) for case, (_, p, _) in cases.items()} == (
        expected_reasons), "the embedded pipeline disagrees with the drill's expectations"
    assert len(reference.dead_letters.records) == len(cases)

    settings, names = drill.settings, drill.names
    assert ensure_topics(settings.kafka.bootstrap, names, FLEET, PARTITIONS) == PARTITIONS
    assert publish_messages(settings, [(t, p) for t, p, _ in inventory]) == len(inventory)
    db = tmp_path / "graph.sqlite"
    worker = drill.start_worker("--db", str(db), "--exit-when-idle", "8")
    drill.wait_assigned(worker)
    after = [(t, p) for t, p, _ in rest[:half] + bad + rest[half:]]
    assert publish_messages(settings, after) == len(after)
    assert drill.wait_exit(worker, 300) == 0, drill.log_of(worker)

    dead: dict[str, set[str]] = defaultdict(set)
    for record in drill.dead_letters():
        dead[record["payload_b64"]].add(record["reason"])
        assert record["detail"] and record["source"].startswith(settings.kafka.topic_prefix)
    assert {case: dead.get(b64(p)) for case, (_, p, _) in cases.items()} == {
        case: {reason} for case, reason in expected_reasons.items()}
    assert set(dead) == {b64(p) for _, p, _ in cases.values()}

    with SQLiteGraphStore(FLEET, db) as stored:
        assert digest_differences(digests(reference.store), digests(stored)) == []
