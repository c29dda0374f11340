"""An attribute the registry does not declare: the event is stored with the attributes
its node type declares, and a warning letter names the others (the whole event, to
replay once a property is declared). A declared attribute out of its domain still
refuses the event."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.types import NodeType, Prop, PropKind, Registry
from fleetgraph.ingest.deadletter import DeadLetterFile
from fleetgraph.ingest.deadletter_tools import read_letters, replay_file
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Event, Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.stages.validate import UNKNOWN_ATTRIBUTE, Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import Topic
from fleetgraph.settings import Settings
from fleetgraph.storage.embedded import SQLiteGraphStore

NOW = 1_763_000_000_000_000
CODEC = load_event_codec()


def inventory(n: int, component: str, parent: str | None, **attributes: str) -> dict[str, Any]:
    return {"event_id": f"inv-{n}", "event_time": NOW - 1_000_000 + n, "kind": "installed",
            "component_id": component, "parent_id": parent, "attributes": attributes}


def registered(n: int, artifact: str, **attributes: str) -> dict[str, Any]:
    return {"event_id": f"art-{n}", "event_time": NOW - 1_000_000 + n, "kind": "registered",
            "artifact_id": artifact, "attributes": attributes}


def node(store: SQLiteGraphStore, node_id: str) -> Any:
    return store.get_nodes([node_id]).get(node_id)


def run(events: list[tuple[Topic, dict[str, Any]]], tmp: Path,
        registry: Registry = FLEET) -> tuple[Pipeline, SQLiteGraphStore, list[dict[str, Any]]]:
    store = SQLiteGraphStore(registry, tmp / "graph.sqlite")
    dead = DeadLetterFile(tmp / "dead-letters.jsonl")
    pipeline = Pipeline.for_fleet(StoreSink(store), dead, codec=CODEC, registry=registry,
                                  validator=Validator(registry, clock=lambda: NOW))
    messages = [Message(t.value, CODEC.encode(t, e), f"test:{i}") for i, (t, e) in
                enumerate(events)]
    run_embedded(pipeline, lambda: messages)
    dead.close()
    return pipeline, store, read_letters(dead.path)


def test_the_known_part_is_stored_and_the_unknown_keys_are_named(tmp_path: Path) -> None:
    events = [
        (Topic.INVENTORY, inventory(1, "site:s1", None, name="north", colour="red")),
        (Topic.INVENTORY, inventory(2, "rack:r1", "site:s1", capacity_kw="250",
                                    vendor_sku="X-1", asset_tag="A7")),
        (Topic.INVENTORY, inventory(3, "rack:r2", "site:s1", capacity_kw="300")),
    ]
    pipeline, store, letters = run(events, tmp_path)
    s = pipeline.stats
    assert (s.received, s.accepted, s.dead_lettered) == (3, 3, 0)
    assert s.warned == {UNKNOWN_ATTRIBUTE: 2}
    site = node(store, "site:s1")
    rack = node(store, "rack:r1")
    assert site is not None and site.props["name"] == "north"
    assert rack is not None and rack.props["capacity_kw"] == 250.0
    assert [(letter["reason"], letter["source"]) for letter in letters] == [
        (UNKNOWN_ATTRIBUTE, "test:0"), (UNKNOWN_ATTRIBUTE, "test:1")]
    assert "'colour'" in letters[0]["detail"]
    assert "'vendor_sku', 'asset_tag'" in letters[1]["detail"]
    # the letter holds the whole event, unknown attributes included
    sent = CODEC.decode(base64.b64decode(letters[1]["payload_b64"]))[1]
    assert sent["attributes"] == {"capacity_kw": "250", "vendor_sku": "X-1", "asset_tag": "A7"}
    store.close()


def test_a_registered_artifact_keeps_its_known_attributes(tmp_path: Path) -> None:
    pipeline, store, letters = run(
        [(Topic.ARTIFACTS, registered(1, "model:m1", family="llama", licence="x"))], tmp_path)
    declared = {p.name for p in FLEET.node("model").props}
    assert pipeline.stats.accepted == 1
    assert [letter["reason"] for letter in letters] == [UNKNOWN_ATTRIBUTE]
    assert node(store, "model:m1") is not None
    for key in ("family", "licence"):
        assert (key in declared) != (repr(key) in letters[0]["detail"])
    store.close()


def test_a_known_attribute_out_of_its_domain_still_refuses_the_event(tmp_path: Path) -> None:
    pipeline, store, letters = run(
        [(Topic.INVENTORY, inventory(1, "site:s1", None, capacity_kw="-5", colour="red"))],
        tmp_path)
    assert (pipeline.stats.accepted, pipeline.stats.rejected) == (0, {"out_of_range": 1})
    assert pipeline.stats.warned == {}
    assert [letter["reason"] for letter in letters] == ["out_of_range"]
    assert node(store, "site:s1") is None
    store.close()


def test_the_validator_takes_the_unknown_keys_out_and_says_so() -> None:
    fields = inventory(1, "rack:r1", "site:s1", capacity_kw="250", colour="red")
    event = Event(Topic.INVENTORY, {**fields, "relation": None, "target_id": None}, "t:0")
    warnings = Validator(FLEET, clock=lambda: NOW).check(event)
    assert event.fields["attributes"] == {"capacity_kw": "250"}
    assert [(w.reason, isinstance(w, RejectedEvent)) for w in warnings] == [
        (UNKNOWN_ATTRIBUTE, True)]


def test_declaring_the_property_and_replaying_stores_it(tmp_path: Path) -> None:
    """The documented way: declare a Prop, replay the unknown_attribute letters."""
    events = [(Topic.INVENTORY, inventory(1, "site:s1", None, name="north")),
              (Topic.INVENTORY, inventory(2, "rack:r1", "site:s1", vendor_sku="X-1"))]
    _, store, letters = run(events, tmp_path)
    store.close()
    assert [letter["reason"] for letter in letters] == [UNKNOWN_ATTRIBUTE]

    wider = Registry()
    for name, node_type in FLEET.nodes.items():
        props = node_type.props
        if name == "rack":
            props = (*props, Prop("vendor_sku", PropKind.STRING, max_length=64))
        wider.add_node(NodeType(name, props, node_type.doc, node_type.temporal,
                                node_type.ttl_seconds, node_type.history_seconds))
    for edge_type in FLEET.edges.values():
        wider.add_edge(edge_type)
    store = SQLiteGraphStore(wider, tmp_path / "wider.sqlite")
    validator = Validator(wider, clock=lambda: NOW)
    messages = [Message(letter["topic"], base64.b64decode(letter["payload_b64"]),
                        letter["source"]) for letter in letters]
    dead = DeadLetterFile(tmp_path / "again.jsonl")
    pipeline = Pipeline.for_fleet(StoreSink(store), dead, codec=CODEC, registry=wider,
                                  validator=validator)
    run_embedded(pipeline, lambda: messages)
    dead.close()
    assert pipeline.stats.warned == {} and pipeline.stats.accepted == 1
    rack = node(store, "rack:r1")
    assert rack is not None and rack.props["vendor_sku"] == "X-1"
    store.close()


def test_replaying_before_declaring_keeps_the_letter(tmp_path: Path) -> None:
    events = [(Topic.INVENTORY, inventory(1, "site:s1", None, name="north", colour="red"))]
    _, store, _ = run(events, tmp_path)
    store.close()
    path = tmp_path / "dead-letters.jsonl"
    settings = Settings().updated(data_dir=tmp_path)
    replay_file(settings, path, lambda: SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite"))
    assert [letter["reason"] for letter in read_letters(path)] == [UNKNOWN_ATTRIBUTE]
