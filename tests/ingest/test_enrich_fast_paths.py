"""Enrichment's and to-graph's fast paths against the general ones: the pipeline
leaves out the enrichment of events whose upserts do not read it (the same upserts
with or without it, on a simulated fleet's events); the topology's lookups (one link
without a sort) answer as the sorted walk over every link did, on random topologies;
to-graph's path for readings maps them as the general one does."""

from __future__ import annotations

import copy
import random

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.ids import node_type_of
from fleetgraph.ingest.message import Event, Message
from fleetgraph.ingest.stages.decode import decode
from fleetgraph.ingest.stages.enrich import enrich, read_by_to_graph
from fleetgraph.ingest.stages.filter import noise_reason
from fleetgraph.ingest.stages.to_graph import GraphMapper
from fleetgraph.ingest.stages.topology import CONTAINMENT, Topology
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator import SimulationConfig, simulate_messages

END = 1_763_000_000_000_000


def events() -> list[Event]:
    """The valid, non-noise events of a small simulated fleet, inventory first."""
    codec = load_event_codec()
    config = SimulationConfig(seed=3, sites=2, hours=4.0, end_time_us=END,
                              jobs_per_site_per_hour=6.0, telemetry_interval_s=300)
    validator = Validator(FLEET, clock=lambda: END)
    out = []
    for i, (topic, payload, _) in enumerate(simulate_messages(config, codec)):
        event = decode(codec, Message(str(topic), payload, f"t:{i}"))
        validator.check(event)
        if noise_reason(event) is None:
            out.append(event)
    return sorted(out, key=lambda e: e.topic is not Topic.INVENTORY)


def test_events_left_unenriched_map_to_the_same_upserts() -> None:
    topology, mapper = Topology(), GraphMapper(FLEET)
    left_out = enriched_anyway = 0
    for event in events():
        if event.topic is Topic.INVENTORY:
            topology.apply(event.fields)
        full = copy.deepcopy(event)
        enrich(full, topology)
        if read_by_to_graph(event):
            continue
        left_out += 1
        enriched_anyway += bool(full.enriched)
        assert repr(mapper.to_graph(event)) == repr(mapper.to_graph(full))
    assert left_out > 1000 and enriched_anyway > 100  # racks were looked up and unused


def reference_targets(links: dict[str, object] | None, t: int) -> list[str]:
    return sorted(end for end, history in (links or {}).items()
                  if history.at(t))  # type: ignore[attr-defined]


def reference_site_of(topology: Topology, component: str, t: int) -> str | None:
    current = component
    for _ in range(4):
        if node_type_of(current) == "site":
            return current
        parents = reference_targets(topology._out.get((CONTAINMENT, current)), t)
        if not parents:
            return None
        current = parents[0]
    return None


@pytest.mark.parametrize("seed", range(5))
def test_lookups_answer_as_the_sorted_walk(seed: int) -> None:
    rng = random.Random(seed)
    ids = [f"{kind}:{i}" for kind in ("site", "rack", "server", "gpu", "cdu") for i in range(4)]
    topology = Topology()
    for n in range(60):
        kind = rng.choice(["installed", "removed", "linked", "unlinked"])
        event = {"kind": kind, "event_time": rng.randrange(10), "component_id": rng.choice(ids),
                 "parent_id": rng.choice(ids), "relation": rng.choice(["cooled_by", "in"]),
                 "target_id": rng.choice(ids), "attributes": {}}
        topology.apply(event)
        for t in range(-1, 11):
            for node in ids:
                for relation in ("in", "cooled_by"):
                    assert topology.targets(relation, node, t) == reference_targets(
                        topology._out.get((relation, node)), t), n
                    assert topology.sources(relation, node, t) == reference_targets(
                        topology._in.get((relation, node)), t), n
                assert topology.site_of(node, t) == reference_site_of(topology, node, t)
    with pytest.raises(Exception, match="not a fleetgraph id"):
        topology.site_of("no-colon", 0)


def test_readings_map_as_the_general_path_maps_them() -> None:
    mapper, general = GraphMapper(FLEET), GraphMapper(FLEET)
    readings = 0
    rng = random.Random(5)
    simulated = events()
    odd = [Event(Topic.TELEMETRY, {"event_id": "e", "event_time": END, "kind": "reading",
                                   "component_id": rng.choice(["gpu:g1", "cdu:c1", "x"]),
                                   "metric": rng.choice(["power_w", None]),
                                   "value": rng.choice([1.0, None])}, "t:0")
           for _ in range(50)]
    for event in [*simulated, *odd]:
        t = event.time
        try:
            want = repr(general.general(event, t))
        except Exception as exc:
            want = repr(exc)
        try:
            got = repr(mapper.to_graph(event, t))
        except Exception as exc:
            got = repr(exc)
        assert got == want
        readings += event.topic is Topic.TELEMETRY and event.fields["kind"] == "reading"
    assert readings > 1000
