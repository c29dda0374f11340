"""The topology keeps each link's and each site attribute's history, answers as of a
time, and round-trips through its facts (what ``ingest --append`` starts from)."""

from __future__ import annotations

import random
from typing import Any

from fleetgraph.ingest.stages.topology import Topology

T = 1_763_000_000_000_000
H = 3_600_000_000


def inv(kind: str, t: int, component: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"i-{kind}-{component}-{t}", "event_time": t, "kind": kind,
            "component_id": component, "parent_id": None, "relation": None,
            "target_id": None, "attributes": {}, **fields}


def cooling(kind: str, t: int, rack: str) -> dict[str, Any]:
    return inv(kind, t, rack, relation="cooled_by", target_id="cdu:s1-c1")


INVENTORY = [
    inv("installed", T, "site:s1", attributes={"region": "west", "jurisdiction": "us-ca"}),
    inv("updated", T + 4 * H, "site:s1", attributes={"jurisdiction": "us-or"}),
    inv("installed", T, "rack:s1-r1", parent_id="site:s1"),
    inv("installed", T, "server:s1-r1-n1", parent_id="rack:s1-r1"),
    cooling("linked", T, "rack:s1-r1"),
    cooling("unlinked", T + H, "rack:s1-r1"),  # moved away ...
    cooling("linked", T + 3 * H, "rack:s1-r1"),  # ... and back
    inv("removed", T + 5 * H, "server:s1-r1-n1", parent_id="rack:s1-r1"),
]


def answers(topology: Topology) -> list[object]:
    return [
        [topology.served_racks("cdu:s1-c1", T + k * H // 2) for k in range(10)],
        [topology.site_attribute("site:s1", "jurisdiction", T + k * H) for k in range(-1, 6)],
        [topology.site_of("server:s1-r1-n1", T + k * H) for k in range(-1, 7)],
    ]


def test_a_link_that_closes_and_opens_again_answers_each_interval() -> None:
    topology = Topology()
    for event in INVENTORY:
        topology.apply(event)
    racks, jurisdiction, site = answers(topology)
    r1 = ["rack:s1-r1"]
    assert racks == [r1, r1, [], [], [], [], r1, r1, r1, r1]
    assert jurisdiction == [None, "us-ca", "us-ca", "us-ca", "us-ca", "us-or", "us-or"]
    assert site == [None, "site:s1", "site:s1", "site:s1", "site:s1", "site:s1", None, None]
    assert topology.site_attribute("site:s1", "jurisdiction") == "us-or"


def test_answers_do_not_depend_on_arrival_order_nor_on_newer_inventory() -> None:
    whole = Topology()
    for event in INVENTORY:
        whole.apply(event)
    rng = random.Random(5)
    for _ in range(50):
        shuffled = Topology()
        for event in rng.sample(INVENTORY, len(INVENTORY)):
            shuffled.apply(event)
        assert answers(shuffled) == answers(whole)
    # what only the inventory up to 2 h knows is what the whole inventory says of then
    early = Topology()
    for event in INVENTORY:
        if event["event_time"] <= T + 2 * H:
            early.apply(event)
    for k in range(5):
        t = T + k * H // 2
        assert early.served_racks("cdu:s1-c1", t) == whole.served_racks("cdu:s1-c1", t)
        assert early.site_attribute("site:s1", "jurisdiction", t) == whole.site_attribute(
            "site:s1", "jurisdiction", t)


def test_facts_load_into_the_same_topology() -> None:
    whole = Topology()
    for event in INVENTORY:
        whole.apply(event)
    facts = sorted(whole.facts())
    loaded = Topology().load(facts)
    assert answers(loaded) == answers(whole)
    assert sorted(loaded.facts()) == facts
    # loading twice, or on top of the events themselves, changes nothing
    again = Topology().load(facts).load(facts)
    for event in INVENTORY:
        again.apply(event)
    assert sorted(again.facts()) == facts


def test_a_link_opened_and_closed_at_the_same_time_is_open_whatever_the_order() -> None:
    for order in ([cooling("linked", T, "rack:a"), cooling("unlinked", T, "rack:a")],
                  [cooling("unlinked", T, "rack:a"), cooling("linked", T, "rack:a")]):
        topology = Topology()
        for event in order:
            topology.apply(event)
        assert topology.served_racks("cdu:s1-c1", T) == ["rack:a"]
