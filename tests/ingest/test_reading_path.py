"""The readings' fast path (``stages.readings``) against the general path.

Hypothesis makes streams of telemetry readings with hostile fields (ids of every
type and none, unknown sites, empty and unmodelled metrics, NaN, infinities and
values out of range, event ids with control characters or longer than a one-byte
length, times at and beyond the validator's limits, fields a reading does not
set), readings damaged byte by byte (truncated, a byte changed, bytes added), on
the wrong topic, mixed with clean events of every topic and kind, shuffled and
sent twice. Each stream runs through the embedded runner into SQLite twice, the
fast path on and off: the stored graphs, the dead letters, the counts and the
watermark must be the same. The fast path is also shown to answer for the clean
readings of a simulated fleet, with the upsert the general path makes.
"""

from __future__ import annotations

import copy
import math
import re
import struct
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.stages.decode import decode
from fleetgraph.ingest.stages.dedup import DedupMode
from fleetgraph.ingest.stages.readings import ReadingPath
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.codec import SchemaError
from fleetgraph.schemas.topics import Topic
from fleetgraph.settings import IngestSettings
from fleetgraph.simulator import SimulationConfig, simulate, simulate_messages
from fleetgraph.storage.embedded import SQLiteGraphStore

END_US = 1_763_700_000_000_000
HOUR_US = 3_600_000_000
MAX_AGE_US = 5 * 365 * 86_400_000_000
CODEC = load_event_codec()
CLEAN = list(simulate(SimulationConfig(seed=5, sites=1, hours=1.0, end_time_us=END_US)))
EVERY_KIND = sorted({(e.topic.value, e.event["kind"]): e for e in CLEAN}.items())
READINGS = [e.event for e in CLEAN if e.event["kind"] == "reading"]
COMPONENTS = sorted({e["component_id"] for e in READINGS})[:6]
SITES = sorted({e.event["site_id"] for e in CLEAN if e.event.get("site_id")})
OTHER_IDS = sorted({v for e in CLEAN for k, v in e.event.items() if k.endswith("_id")
                    and isinstance(v, str) and ":" in v})[:8]
ADDRESS = re.compile(r"0x[0-9a-f]+")  # of an object named in fastavro's errors
METRICS = ["supply_temp_c", "flow_lpm", "output_kw", "temperature_c", "power_w",
           "utilization", "status", "rack_count", "", "x" * 70]

texts = st.one_of(st.sampled_from(["", "\x00", "ok\n", "é" * 40, "x" * 70, "x" * 1100,
                                   "Zürich 東京 🔥", "\u2028"]), st.text(max_size=8))
ids = st.one_of(st.sampled_from(COMPONENTS), st.sampled_from(COMPONENTS),
                st.sampled_from(OTHER_IDS), st.sampled_from(SITES),
                st.sampled_from(COMPONENTS).map(lambda i: i + "\n"),
                st.sampled_from(["gpu:", "toaster:x1", "cdu:" + "c" * 300]), texts)
times = st.one_of(st.sampled_from([END_US, END_US - 1, END_US + HOUR_US, END_US + HOUR_US + 1,
                                   END_US - MAX_AGE_US, END_US - MAX_AGE_US - 1, 0, -1,
                                   2**62, -(2**63), 2**63 - 1]),
                  st.integers(END_US - 10**9, END_US))
values = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308,
                                    -1.0, 0.0, 100.0, 1e9]), st.floats(-10, 2000), st.none())
READING_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.one_of(st.sampled_from(["r1", "r2", "r3"]), texts),
    "event_time": times,
    "kind": st.sampled_from(["reading", "reading", "status", "heartbeat", "site_energy"]),
    "component_id": ids,
    "site_id": st.one_of(st.none(), st.sampled_from(SITES), ids),
    "metric": st.one_of(st.none(), st.sampled_from(METRICS), texts),
    "value": values,
    "status": st.one_of(st.none(), st.sampled_from(["ok", "fault"]), texts),
    "fault_id": st.one_of(st.none(), texts),
    "fault_code": st.one_of(st.none(), texts),
    "severity": st.one_of(st.none(), texts),
    "battery_soc": st.one_of(st.none(), values),
}


@st.composite
def reading(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A clean reading of one of a few components, often with hostile fields."""
    event = copy.deepcopy(draw(st.sampled_from(READINGS)))
    event["component_id"] = draw(st.sampled_from(COMPONENTS))
    event["event_id"] = f"r{draw(st.integers(0, 9))}"
    event["event_time"] = draw(st.integers(END_US - 10**8, END_US))
    for name in draw(st.lists(st.sampled_from(sorted(READING_FIELDS)), max_size=3,
                              unique=True)):
        event[name] = draw(READING_FIELDS[name])
    return Topic.TELEMETRY.value, event


@st.composite
def damaged(draw: st.DrawFn, payload: bytes) -> bytes:
    """``payload`` truncated, with a byte changed, or with bytes added."""
    how = draw(st.sampled_from(["cut", "change", "add"]))
    at = draw(st.integers(0, len(payload) - 1))
    if how == "cut":
        return payload[:at]
    if how == "change":
        return payload[:at] + bytes([draw(st.integers(0, 255))]) + payload[at + 1:]
    return payload + draw(st.binary(min_size=1, max_size=9))


@st.composite
def streams(draw: st.DrawFn) -> list[Message]:
    """Readings (hostile, damaged, on a wrong topic), clean events of every kind, some
    sent twice, shuffled."""
    out: list[Message] = []
    for item in draw(st.lists(st.one_of(
            reading(), reading(), reading(),
            st.sampled_from(EVERY_KIND).map(lambda kv: (kv[0][0], kv[1].event))),
            min_size=1, max_size=30)):
        topic, event = item
        try:
            payload = CODEC.encode(topic, event)
        except (SchemaError, ValueError, TypeError, OverflowError, struct.error):
            continue  # no producer can put this on the wire
        if topic == Topic.TELEMETRY.value and draw(st.integers(0, 9)) == 0:
            payload = draw(damaged(payload))
        if draw(st.integers(0, 19)) == 0:
            topic = draw(st.sampled_from(["", Topic.JOBS.value]))
        out.append(Message(topic, payload, f"fuzz:{len(out)}"))
    out += draw(st.lists(st.sampled_from(out), max_size=4)) if out else []
    return list(draw(st.permutations(out)))


def ingest(stream: list[Message], mode: DedupMode, fast: bool) -> tuple[object, ...]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteGraphStore(FLEET, Path(tmp) / "graph.sqlite")
        letters = DeadLetterList()
        pipeline = Pipeline.for_fleet(
            StoreSink(store), letters, codec=CODEC, clock=lambda: END_US,
            ingest=IngestSettings(batch_size=3, dedup_window_s=1.0, dedup_mode=mode))
        pipeline.fast_readings = fast
        report = run_embedded(pipeline, lambda: stream)
        graph = sorted(store.dump(), key=repr)
        store.close()
    records = [{k: ADDRESS.sub("0x?", v) if k == "detail" else v for k, v in r.items()
                if k != "refused_at_us"} for r in letters.records]
    return report.stats, records, graph, pipeline.watermark, report.collapsed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.sampled_from(["leading", "trailing"]))
def test_the_fast_path_stores_and_dead_letters_what_the_general_path_does(
        stream: list[Message], mode: DedupMode) -> None:
    assert ingest(stream, mode, fast=True) == ingest(stream, mode, fast=False)


def test_the_fast_path_answers_for_clean_readings_with_the_general_upsert() -> None:
    config = SimulationConfig(seed=11, sites=2, hours=2.0, end_time_us=END_US)
    stream = [Message(str(topic), payload, f"sim:{i}")
              for i, (topic, payload, _) in enumerate(simulate_messages(config, CODEC))]
    pipeline = Pipeline.for_fleet(StoreSink(SQLiteGraphStore(FLEET, ":memory:")),
                                  DeadLetterList(), codec=CODEC, clock=lambda: END_US)
    pipeline.fast_readings = False
    run_embedded(pipeline, lambda: stream)  # the validator learns the fleet's ids
    assert type(pipeline.validator) is Validator
    path = ReadingPath(CODEC, pipeline.validator, pipeline.mapper)
    readings = answered = 0
    for message in stream:
        upsert = path.upsert(message)
        event = decode(CODEC, message)
        if event.topic is Topic.TELEMETRY and event.kind == "reading":
            readings += 1
        if upsert is None:
            continue
        answered += 1
        assert event.topic is Topic.TELEMETRY and event.kind == "reading"
        assert [upsert] == pipeline.mapper.general(event, event.time)
    assert readings > 1000 and answered == readings
