from __future__ import annotations

import itertools
from typing import Any

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert
from fleetgraph.ingest.message import Event
from fleetgraph.ingest.stages.enrich import enrich
from fleetgraph.ingest.stages.to_graph import GraphMapper
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.schemas.topics import Topic

T = 1_763_000_000_000_000
H = 3_600_000_000


def inv(kind: str, t: int, component: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"i-{kind}-{component}-{t}", "event_time": t, "kind": kind,
            "component_id": component, "parent_id": None, "relation": None,
            "target_id": None, "attributes": {}, **fields}


INVENTORY = [
    inv("installed", T, "site:s1", attributes={"region": "west", "jurisdiction": "us-ca"}),
    inv("installed", T, "rack:s1-r1", parent_id="site:s1"),
    inv("installed", T, "rack:s1-r2", parent_id="site:s1"),
    inv("installed", T, "cdu:s1-c1", parent_id="site:s1"),
    inv("installed", T, "server:s1-r2-n1", parent_id="rack:s1-r2"),
    inv("linked", T, "rack:s1-r1", relation="cooled_by", target_id="cdu:s1-c1"),
    inv("linked", T, "rack:s1-r2", relation="cooled_by", target_id="cdu:s1-c1"),
    inv("unlinked", T + 2 * H, "rack:s1-r2", relation="cooled_by", target_id="cdu:s1-c1"),
]


def test_topology_answers_as_of_a_time_whatever_the_arrival_order() -> None:
    answers = set()
    for order in itertools.islice(itertools.permutations(INVENTORY), 0, None, 997):
        topology = Topology()
        for event in order:
            topology.apply(event)
        answers.add((
            tuple(topology.served_racks("cdu:s1-c1", T + H)),
            tuple(topology.served_racks("cdu:s1-c1", T + 3 * H)),
            topology.site_of("server:s1-r2-n1", T + H),
            topology.site_attribute("site:s1", "jurisdiction"),
        ))
    assert answers == {(("rack:s1-r1", "rack:s1-r2"), ("rack:s1-r1",), "site:s1", "us-ca")}


def test_a_fault_is_enriched_with_the_racks_its_cdu_cooled_then() -> None:
    topology = Topology()
    for event in INVENTORY:
        topology.apply(event)
    fault = Event(Topic.TELEMETRY, {
        "event_id": "t1", "event_time": T + 3 * H, "kind": "status",
        "component_id": "cdu:s1-c1", "site_id": None, "status": "fault",
        "fault_id": "cdu:s1-c1@x", "fault_code": "pump", "severity": "critical",
    }, "log:1")
    enrich(fault, topology)
    assert fault.enriched == {"site_id": "site:s1", "racks": ["rack:s1-r1"]}
    upserts = GraphMapper(FLEET).to_graph(fault)
    by_key = {u.key: u for u in upserts}
    node = by_key[("node", "fault", "fault:cdu:s1-c1@x")]
    assert isinstance(node, NodeUpsert)
    assert node.props == {"valid_from": T + 3 * H, "valid_to": None,
                          "component_id": "cdu:s1-c1", "code": "pump", "severity": "critical",
                          "site_id": "site:s1", "affected_racks": "rack:s1-r1"}
    edge = by_key[("edge", "had_fault", "cdu:s1-c1", "fault:cdu:s1-c1@x")]
    assert isinstance(edge, EdgeUpsert)
    assert edge.props == {"valid_from": T + 3 * H, "valid_to": None}
    assert by_key[("node", "cdu", "cdu:s1-c1")].props == {"status": "fault"}
    assert all(u.provenance.event_id == "t1" and u.provenance.source == "log:1"
               for u in upserts)


def test_a_finished_job_closes_its_placement_and_links_its_outputs() -> None:
    finished = Event(Topic.JOBS, {
        "event_id": "j9", "event_time": T + H, "kind": "finished", "job_id": "job:j1",
        "application_id": None, "user_id": "user:u1", "job_kind": None,
        "gpus_requested": None, "model_id": None, "inputs": [],
        "outputs": ["artifact:sha256-00aa"], "exit_reason": None,
        "placement": [{"server_id": "server:s1-r2-n1", "gpu_ids": ["gpu:s1-r2-n1-g0"]}],
    }, "log:2")
    upserts = {u.key: u.props for u in GraphMapper(FLEET).to_graph(finished)}
    assert upserts[("node", "job", "job:j1")] == {"status": "finished", "finished_at": T + H}
    assert upserts[("edge", "ran_on", "job:j1", "server:s1-r2-n1")] == {"valid_to": T + H}
    assert upserts[("edge", "allocated", "job:j1", "gpu:s1-r2-n1-g0")] == {"valid_to": T + H}
    assert upserts[("edge", "produced", "job:j1", "artifact:sha256-00aa")] == {"at": T + H}
    assert upserts[("edge", "launched_by", "job:j1", "user:u1")] == {}
