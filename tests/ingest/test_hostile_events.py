"""Fuzz: events of every kind with hostile values never stop a run, and every
message is accounted for.

Hypothesis takes one clean event of each topic and kind from the simulator,
sets some of its fields to hostile values of the field's Avro type (huge and
negative numbers, NaN and infinities, NUL, newlines, very long strings, ids of
the wrong type or with a trailing newline, empty ids, unicode, hostile
attribute maps), mixes in clean events, repeats and undecodable bytes, and
runs them through the embedded pipeline into SQLite. The run must finish;
received = accepted + filtered + dead-lettered, by the pipeline's counts and
the dead-letter file; no message is refused by a stage's crash or by the store
(validation refuses them first, with their reason); and everything stored lies
in its property's declared domain.
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetgraph.graph_model import FLEET, parse_id
from fleetgraph.graph_model.types import Prop, PropKind
from fleetgraph.ingest.deadletter import DeadLetterFile, read_dead_letters
from fleetgraph.ingest.errors import PROCESSING_ERROR, STORE_REFUSED
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.stages.validate import UNKNOWN_ATTRIBUTE
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.codec import SchemaError
from fleetgraph.schemas.topics import RECORD_OF_TOPIC, Topic
from fleetgraph.settings import IngestSettings
from fleetgraph.simulator import SimulationConfig, simulate
from fleetgraph.storage.embedded import SQLiteGraphStore

END_US = 1_763_700_000_000_000
CODEC = load_event_codec()
MAIN_ID = {Topic.TELEMETRY: "component_id", Topic.INVENTORY: "component_id",
           Topic.JOBS: "job_id", Topic.ARTIFACTS: "artifact_id"}
CLEAN = {  # one clean event per topic, kind and type of the node it is about
    (sim.topic, sim.event["kind"], sim.event[MAIN_ID[sim.topic]].split(":")[0]): sim.event
    for sim in simulate(SimulationConfig(seed=3, sites=2, hours=2.0, end_time_us=END_US))
}
CLEAN.update({  # the simulator sends no updates: each installed component updated
    (topic, "updated", node_type): {**event, "kind": "updated", "parent_id": None}
    for (topic, kind, node_type), event in list(CLEAN.items()) if kind == "installed"
})
BASE = sorted(CLEAN.items(), key=lambda item: (item[0][0].value, *item[0][1:]))
WITH_ATTRIBUTES = [(key, event) for key, event in BASE if key[1] in ("installed", "updated",
                                                                     "registered")]
IDS = sorted({v for event in CLEAN.values() for v in event.values()  # some of every type
              if isinstance(v, str) and re.fullmatch(r"[a-z_]+:\S+", v)})
PROP_NAMES = sorted({p.name for t in FLEET.nodes.values() for p in t.props})
INT64 = 2**63

texts = st.one_of(
    st.sampled_from(["", " ", "\x00", "\n", "a\x00b", "ok\n", "on-fire", "nan", "-1", "1e400",
                     str(2**70), "x" * 1100, "x" * 300, "Zürich 東京 🔥", "\u202eevil", "\u2028",
                     "toaster:x1", "gpu:", ":", "job:j1\n", "site:s0001\x00", "fault:x"]),
    st.sampled_from(IDS),
    st.sampled_from(IDS).map(lambda i: i + "\n"),
    st.text(max_size=12),
)
ints_as_text = st.one_of(
    st.sampled_from([str(2**63), str(-(2**63) - 1), str(2**70), "-8", "-1", "7.5", ""]),
    st.integers(-(2**80), 2**80).map(str),
)
floats_as_text = st.one_of(
    st.sampled_from(["7.5", "2.83", "-8", "nan", "inf", "-inf", "1e308", "1e400", "0x1p3"]),
    st.floats().map(str),
)
AS_TEXT = {PropKind.INT: ints_as_text, PropKind.TIME: ints_as_text,
           PropKind.FLOAT: floats_as_text, PropKind.STRING: texts, PropKind.BOOL: texts}
attribute_maps = st.dictionaries(st.one_of(st.sampled_from(PROP_NAMES), texts),
                                 st.one_of(ints_as_text, floats_as_text, texts), max_size=4)
longs = st.one_of(st.sampled_from([0, -1, 1, INT64 - 1, -INT64, 2**31, END_US,
                                   END_US + 10**13, END_US - 10**9]),
                  st.integers(-INT64, INT64 - 1))
ints = st.one_of(st.sampled_from([0, -1, 2**31 - 1, -(2**31), 3]), st.integers(-(2**31), 2**31 - 1))
doubles = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 7.5, -8.0, 2.83, 1e308]),
                    st.floats())
id_lists = st.lists(st.one_of(st.sampled_from(IDS), texts), max_size=3)
placements = st.lists(st.fixed_dictionaries({
    "server_id": st.one_of(st.sampled_from(IDS), texts), "gpu_ids": id_lists}), max_size=2)


def values_for(avro_type: Any) -> st.SearchStrategy[Any]:
    """Hostile values a field of ``avro_type`` can carry on the wire."""
    if isinstance(avro_type, list):  # a union with null
        return st.one_of(st.none(), *(values_for(t) for t in avro_type if t != "null"))
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        if kind == "enum":
            return st.sampled_from(avro_type["symbols"])
        if kind == "map":
            return attribute_maps
        if kind == "array":
            return id_lists if avro_type["items"] == "string" else placements
        return values_for(kind)
    return {"string": texts, "long": longs, "int": ints, "double": doubles}[avro_type]


FIELDS = {
    topic: {f["name"]: values_for(f["type"])
            for f in CODEC.newest(RECORD_OF_TOPIC[topic]).parsed["fields"]}
    for topic in Topic if topic in RECORD_OF_TOPIC
}


@st.composite
def hostile_event(draw: st.DrawFn) -> tuple[Topic, dict[str, Any]]:
    """A clean event with one to three fields set to hostile values of their type."""
    (topic, _, _), clean = draw(st.sampled_from(BASE))
    event = copy.deepcopy(clean)
    fields = FIELDS[topic]
    for name in draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3,
                              unique=True)):
        event[name] = draw(fields[name])
    return topic, event


@st.composite
def hostile_attributes(draw: st.DrawFn) -> tuple[Topic, dict[str, Any]]:
    """A clean event whose attribute map sets properties of its node to hostile values
    of their kind (the map validation did not look into)."""
    (topic, _, node_type), clean = draw(st.sampled_from(WITH_ATTRIBUTES))
    props = draw(st.lists(st.sampled_from(FLEET.node(node_type).props), min_size=1,
                          max_size=3, unique=True))
    return topic, {**clean, "attributes": {p.name: draw(AS_TEXT[p.kind]) for p in props}}


@st.composite
def messages(draw: st.DrawFn) -> list[Message]:
    """Hostile and clean events, undecodable bytes, and a few messages sent twice."""
    out: list[Message] = []
    items = draw(st.lists(st.one_of(
        hostile_event(), hostile_event(), hostile_attributes(), hostile_attributes(),
        st.sampled_from(BASE).map(lambda item: (item[0][0], copy.deepcopy(item[1]))),
        st.binary(max_size=40),
    ), min_size=1, max_size=12))
    for item in items:
        if isinstance(item, bytes):
            out.append(Message(Topic.TELEMETRY.value, item, f"fuzz:{len(out)}"))
            continue
        topic, event = item
        try:
            payload = CODEC.encode(topic, event)
        except (SchemaError, ValueError, TypeError, OverflowError):
            continue  # no producer can put this on the wire
        out.append(Message(topic.value, payload, f"fuzz:{len(out)}"))
    repeats = draw(st.lists(st.sampled_from(out), max_size=2)) if out else []
    return out + repeats


def stored_values_outside_their_domain(store: SQLiteGraphStore) -> list[str]:
    """Stored ids that do not parse, and values outside their property's domain."""
    wrong: list[str] = []
    props: dict[str, tuple[Prop, ...]] = {f"node_{n}": t.props for n, t in FLEET.nodes.items()}
    props.update({f"edge_{n}": t.props for n, t in FLEET.edges.items()})
    for table, row in store.dump():
        keys = 1 if table.startswith("node_") else 2
        for node_id in row[:keys]:
            parse_id(str(node_id))
        for i, prop in enumerate(props[table]):
            value = row[keys + 2 * i]
            try:
                prop.check(value)
            except Exception as exc:  # any failure is a finding
                wrong.append(f"{table} {row[:keys]}: {exc}")
    return wrong


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_hostile_events_never_stop_a_run_and_every_message_is_accounted_for(
    batch: list[Message],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteGraphStore(FLEET, Path(tmp) / "graph.sqlite")
        dead = DeadLetterFile(Path(tmp) / "dead-letters.jsonl")
        pipeline = Pipeline.for_fleet(
            StoreSink(store), dead, codec=CODEC, clock=lambda: END_US,
            ingest=IngestSettings(batch_size=3, dedup_window_s=1.0))
        report = run_embedded(pipeline, lambda: batch)
        dead.close()
        letters = read_dead_letters(dead.path) if dead.path.exists() else []

        s = report.stats
        assert s.received == len(batch)
        assert s.received == s.accepted + sum(s.filtered.values()) + s.dead_lettered
        # the letters: the refused, and the accepted stored in part (unknown attributes)
        assert Counter(r["reason"] for r in letters) == s.rejected + s.warned
        assert set(s.warned) <= {UNKNOWN_ATTRIBUTE}
        assert sum(s.warned.values()) <= s.accepted
        assert not {PROCESSING_ERROR, STORE_REFUSED} & set(s.rejected), letters
        assert stored_values_outside_their_domain(store) == []
        store.close()
