"""``Topology.state`` and ``restore``: the whole topology as one value (a worker's
snapshot) comes back as the same topology, and restoring onto a topology merges
as applying both sets of events would."""

from __future__ import annotations

import json
import random

from fleetgraph.bench.startup import inventory_events
from fleetgraph.ingest.stages.topology import Topology

END_US = 1_796_000_000_000_000


def applied(events: list[dict[str, object]]) -> Topology:
    topology = Topology()
    for event in events:
        topology.apply(event)
    return topology


def test_state_restores_the_same_topology_and_merges_like_the_events() -> None:
    rng = random.Random(11)
    events = [sim.event for sim in inventory_events(3, 30, churn=30.0, end_us=END_US)]
    rng.shuffle(events)
    whole = applied(events)
    state = json.loads(json.dumps(whole.state()))  # as a snapshot file holds it
    restored = Topology().restore(state)
    assert sorted(restored.facts()) == sorted(whole.facts())
    assert restored.size() == whole.size()
    for cut in (0, len(events) // 3, len(events)):
        a, b = applied(events[:cut]), applied(events[cut:])
        merged = a.restore(json.loads(json.dumps(b.state())))
        assert sorted(merged.facts()) == sorted(whole.facts())
    # lookups answer through the index of the other direction too
    cdu, racks = next((target, sources) for (relation, target), sources in whole._in.items()
                      if relation == "cooled_by")
    for t in (END_US - 29 * 86_400_000_000, END_US):
        assert restored.served_racks(cdu, t) == whole.served_racks(cdu, t)
    assert racks


def test_a_state_out_of_order_is_taken_change_by_change() -> None:
    state = {"links": [["cooled_by", "rack:a", "cdu:c", [30, 10, 20], [False, True, True]]],
             "sites": [["site:s", "region", [5, 1], ["east", "west"]]]}
    topology = Topology().restore(state)
    assert [topology.served_racks("cdu:c", t) for t in (5, 10, 25, 30)] == [
        [], ["rack:a"], ["rack:a"], []]
    assert [topology.site_attribute("site:s", "region", t) for t in (0, 1, 5)] == [
        None, "west", "east"]


def test_a_state_taken_in_parts_while_events_arrive_restores_with_those_events() -> None:
    events = [sim.event for sim in inventory_events(3, 30, churn=30.0, end_us=END_US)]
    random.Random(12).shuffle(events)
    cut = len(events) // 2
    topology = applied(events[:cut])
    arriving = iter(events[cut:])
    state: dict[str, list[list[object]]] = {"links": [], "sites": []}
    parts = 0
    for part in topology.state_parts(size=40):  # a follower's loop applies in between
        state["links"] += part["links"]
        state["sites"] += part["sites"]
        parts += 1
        for _, event in zip(range(25), arriving, strict=False):
            topology.apply(event)
    assert parts > 5
    restarted = Topology().restore(json.loads(json.dumps(state)))
    for event in events[cut:]:  # read again from the snapshot's offsets
        restarted.apply(event)
    assert sorted(restarted.facts()) == sorted(applied(events).facts())
