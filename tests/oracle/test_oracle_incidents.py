"""Hand-worked checks of blastRadius, componentTimeline and path in the oracle."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from fleetgraph.bench.reference.graph import build_graph
from fleetgraph.bench.reference.incidents import (
    blast_radius,
    component_timeline,
    fleet_state,
    shortest_path,
)

from .test_oracle import fault, inv, job, on, run

Events = list[tuple[str, dict[str, Any]]]

# --- the blast-radius fleet ---------------------------------------------------------
# site a: r1 cooled by c1+c2 (redundant), powered by p1+p2 (N+1), one ToR t1;
#         r2 cooled by c2 only, powered by p2 only, two ToRs t2a+t2b;
#         r3 cooled by c3+c4, c4 in fault from 500 on;
#         r4 cooled by c1, moves to site b (and to cdu b-c1) at 600.
# gpu r1-n1-g1 is in fault from 100 on.
A, B = "site:a", "site:b"
R1, R2, R3, R4 = "rack:a-r1", "rack:a-r2", "rack:a-r3", "rack:a-r4"
C1, C2, C3, C4, BC1 = "cdu:a-c1", "cdu:a-c2", "cdu:a-c3", "cdu:a-c4", "cdu:b-c1"
P1, P2 = "power_shelf:a-p1", "power_shelf:a-p2"
T1, T2A, T2B, SPINE = "switch:a-tor1", "switch:a-tor2a", "switch:a-tor2b", "switch:a-spine"
I1 = "instrument:i1"
N1, N2, N3, N4 = "server:a-r1-n1", "server:a-r2-n1", "server:a-r3-n1", "server:a-r4-n1"
G10, G11, G20, G30 = "gpu:a-r1-n1-g0", "gpu:a-r1-n1-g1", "gpu:a-r2-n1-g0", "gpu:a-r3-n1-g0"


def blast_events() -> Events:
    events = [
        inv(0, "installed", A, attributes={"region": "eu", "jurisdiction": "de"}),
        inv(0, "installed", B, attributes={"region": "eu", "jurisdiction": "de"}),
    ]
    events += [inv(0, "installed", c, parent_id=A) for c in (R1, R2, R3, R4, C1, C2, C3, C4)]
    events += [inv(0, "installed", c, parent_id=A) for c in (P1, P2, SPINE, I1)]
    events += [
        inv(0, "installed", BC1, parent_id=B),
        inv(0, "installed", T1, parent_id=R1),
        inv(0, "installed", T2A, parent_id=R2),
        inv(0, "installed", T2B, parent_id=R2),
        inv(0, "installed", N1, parent_id=R1),
        inv(0, "installed", N2, parent_id=R2),
        inv(0, "installed", N3, parent_id=R3),
        inv(0, "installed", N4, parent_id=R4),
        inv(0, "installed", G10, parent_id=N1),
        inv(0, "installed", G11, parent_id=N1),
        inv(0, "installed", G20, parent_id=N2),
        inv(0, "installed", G30, parent_id=N3),
    ]
    for rack, relation, target in (
        (R1, "cooled_by", C1),
        (R1, "cooled_by", C2),
        (R2, "cooled_by", C2),
        (R3, "cooled_by", C3),
        (R3, "cooled_by", C4),
        (R1, "powered_by", P1),
        (R1, "powered_by", P2),
        (R2, "powered_by", P2),
        (R4, "cooled_by", C1),
    ):
        events.append(inv(10, "linked", rack, relation=relation, target_id=target))
    events += [  # r4 moves to site b and its CDU there
        inv(600, "removed", R4, parent_id=A),
        inv(600, "installed", R4, parent_id=B),
        inv(600, "unlinked", R4, relation="cooled_by", target_id=C1),
        inv(600, "linked", R4, relation="cooled_by", target_id=BC1),
    ]
    events += fault(C4, "X", 500)
    events += fault(G11, "Y", 100)
    events += run("job:j1", N1, 900)
    events += run("job:j2", N2, 500, 800)
    events += run("job:j3", N3, 950)
    events += run("job:j4", N4, 200)
    return events


@pytest.fixture(scope="module")
def fleet() -> nx.MultiDiGraph:
    return build_graph(blast_events())


def item(node: str, impact: str, dependency: str | None, *path: str) -> dict[str, Any]:
    return {"id": node, "impact": impact, "dependency": dependency, "path": list(path)}


def jobrow(job_id: str, server: str, impact: str) -> dict[str, Any]:
    return {"job": job_id, "server": server, "impact": impact}


BASE_FAULTS = [C4, G11]


def test_fleet_state(fleet: nx.MultiDiGraph) -> None:
    state = fleet_state(fleet, 1000)
    assert state.down == {C4, G11}
    assert state.degraded == {R3, N3, G30}  # one of r3's two CDUs is down
    early = fleet_state(fleet, 300)
    assert early.down == {G11} and early.degraded == set()


def test_one_of_two_cdus_degrades(fleet: nx.MultiDiGraph) -> None:
    assert blast_radius(fleet, C1, 1000) == {
        "items": [
            item(G10, "DEGRADED", "cooling", C1, R1, N1, G10),
            item(R1, "DEGRADED", "cooling", C1, R1),
            item(N1, "DEGRADED", "cooling", C1, R1, N1),
        ],
        # g11 is already down: not listed; r4 no longer depends on c1 at 1000
        "already_in_fault": BASE_FAULTS,
        "jobs": [jobrow("job:j1", N1, "DEGRADED")],
    }


def test_only_cdu_goes_down_and_shared_cdu_degrades(fleet: nx.MultiDiGraph) -> None:
    assert blast_radius(fleet, C2, 1000) == {
        "items": [
            item(G20, "DOWN", "cooling", C2, R2, N2, G20),
            item(R2, "DOWN", "cooling", C2, R2),
            item(N2, "DOWN", "cooling", C2, R2, N2),
            item(G10, "DEGRADED", "cooling", C2, R1, N1, G10),
            item(R1, "DEGRADED", "cooling", C2, R1),
            item(N1, "DEGRADED", "cooling", C2, R1, N1),
        ],
        "already_in_fault": BASE_FAULTS,
        # j2 ran on n2 but ended at 800
        "jobs": [jobrow("job:j1", N1, "DEGRADED")],
    }


def test_other_cdu_already_in_fault_goes_down(fleet: nx.MultiDiGraph) -> None:
    # r3 was DEGRADED (c4 in fault): with c3 it is DOWN, and so are its server, gpu
    assert blast_radius(fleet, C3, 1000) == {
        "items": [
            item(G30, "DOWN", "cooling", C3, R3, N3, G30),
            item(R3, "DOWN", "cooling", C3, R3),
            item(N3, "DOWN", "cooling", C3, R3, N3),
        ],
        "already_in_fault": BASE_FAULTS,
        "jobs": [jobrow("job:j3", N3, "DOWN")],
    }


def test_both_cdus_down() -> None:
    g = build_graph(blast_events() + fault(C1, "Z", 950))
    assert fleet_state(g, 1000).degraded == {R1, N1, G10, R3, N3, G30}
    assert blast_radius(g, C2, 1000) == {
        "items": [
            item(G10, "DOWN", "cooling", C2, R1, N1, G10),
            item(G20, "DOWN", "cooling", C2, R2, N2, G20),
            item(R1, "DOWN", "cooling", C2, R1),
            item(R2, "DOWN", "cooling", C2, R2),
            item(N1, "DOWN", "cooling", C2, R1, N1),
            item(N2, "DOWN", "cooling", C2, R2, N2),
        ],
        "already_in_fault": [C1, C4, G11],
        "jobs": [jobrow("job:j1", N1, "DOWN")],
    }


def test_component_in_fault_gives_its_own_radius(fleet: nx.MultiDiGraph) -> None:
    # c4 is in fault at 1000: the answer is what its failure does (r3 keeps c3)
    assert blast_radius(fleet, C4, 1000) == {
        "items": [
            item(G30, "DEGRADED", "cooling", C4, R3, N3, G30),
            item(R3, "DEGRADED", "cooling", C4, R3),
            item(N3, "DEGRADED", "cooling", C4, R3, N3),
        ],
        "already_in_fault": [G11],
        "jobs": [jobrow("job:j3", N3, "DEGRADED")],
    }


def test_n_plus_one_power(fleet: nx.MultiDiGraph) -> None:
    assert blast_radius(fleet, P1, 1000)["items"] == [
        item(G10, "DEGRADED", "power", P1, R1, N1, G10),
        item(R1, "DEGRADED", "power", P1, R1),
        item(N1, "DEGRADED", "power", P1, R1, N1),
    ]
    answer = blast_radius(fleet, P2, 1000)
    assert answer["items"] == [
        item(G20, "DOWN", "power", P2, R2, N2, G20),
        item(R2, "DOWN", "power", P2, R2),
        item(N2, "DOWN", "power", P2, R2, N2),
        item(G10, "DEGRADED", "power", P2, R1, N1, G10),
        item(R1, "DEGRADED", "power", P2, R1),
        item(N1, "DEGRADED", "power", P2, R1, N1),
    ]
    assert answer["jobs"] == [jobrow("job:j1", N1, "DEGRADED")]


def test_tor_switch(fleet: nx.MultiDiGraph) -> None:
    assert blast_radius(fleet, T1, 1000) == {
        "items": [
            item(G10, "DOWN", "network", T1, R1, N1, G10),
            item(R1, "DOWN", "network", T1, R1),
            item(N1, "DOWN", "network", T1, R1, N1),
        ],
        "already_in_fault": BASE_FAULTS,
        "jobs": [jobrow("job:j1", N1, "DOWN")],
    }
    # one of two ToRs: degraded
    assert blast_radius(fleet, T2A, 1000) == {
        "items": [
            item(G20, "DEGRADED", "network", T2A, R2, N2, G20),
            item(R2, "DEGRADED", "network", T2A, R2),
            item(N2, "DEGRADED", "network", T2A, R2, N2),
        ],
        "already_in_fault": BASE_FAULTS,
        "jobs": [],
    }


def test_site_failure(fleet: nx.MultiDiGraph) -> None:
    def contained(*path: str) -> dict[str, Any]:
        return item(path[-1], "DOWN", "containment", A, *path)

    answer = blast_radius(fleet, A, 1000)
    # c4 and g11 were down already; r3's server and gpu go from DEGRADED to DOWN;
    # ToR switches are in racks, not in the site: no containment, not listed;
    # r4 moved to site b at 600.
    assert answer == {
        "items": [
            contained(C1),
            contained(C2),
            contained(C3),
            contained(R1, N1, G10),
            contained(R2, N2, G20),
            contained(R3, N3, G30),
            contained(I1),
            contained(P1),
            contained(P2),
            contained(R1),
            contained(R2),
            contained(R3),
            contained(R1, N1),
            contained(R2, N2),
            contained(R3, N3),
            contained(SPINE),
        ],
        "already_in_fault": BASE_FAULTS,
        "jobs": [jobrow("job:j1", N1, "DOWN"), jobrow("job:j3", N3, "DOWN")],
    }


def test_moved_rack(fleet: nx.MultiDiGraph) -> None:
    # at 1000 r4 is in site b, cooled by b-c1
    assert blast_radius(fleet, B, 1000) == {
        "items": [
            item(BC1, "DOWN", "containment", B, BC1),
            item(R4, "DOWN", "containment", B, R4),
            item(N4, "DOWN", "containment", B, R4, N4),
        ],
        "already_in_fault": [],  # the faults of site a are not in site b
        "jobs": [jobrow("job:j4", N4, "DOWN")],
    }
    # at 300 r4 was cooled by c1 alone (and c4 was not yet in fault)
    assert blast_radius(fleet, C1, 300) == {
        "items": [
            item(R4, "DOWN", "cooling", C1, R4),
            item(N4, "DOWN", "cooling", C1, R4, N4),
            item(G10, "DEGRADED", "cooling", C1, R1, N1, G10),
            item(R1, "DEGRADED", "cooling", C1, R1),
            item(N1, "DEGRADED", "cooling", C1, R1, N1),
        ],
        "already_in_fault": [G11],
        "jobs": [jobrow("job:j4", N4, "DOWN")],
    }
    assert blast_radius(fleet, BC1, 300)["items"] == []


def test_unknown_component(fleet: nx.MultiDiGraph) -> None:
    assert blast_radius(fleet, "cdu:nowhere", 1000) == {
        "items": [],
        "already_in_fault": [],  # in no site: nothing else in scope
        "jobs": [],
    }


# --- componentTimeline -----------------------------------------------------------------
TS, TR1, TR2, TC1 = "site:t", "rack:t-r1", "rack:t-r2", "cdu:t-c1"
TN1, TN2, TN3 = "server:t-n1", "server:t-n2", "server:t-n3"
FA, FB = "fault:cdu:t-c1@A", "fault:cdu:t-c1@B"


def timeline_events() -> Events:
    events = [
        inv(0, "installed", TS),
        inv(0, "installed", TR1, parent_id=TS),
        inv(0, "installed", TR2, parent_id=TS),
        inv(0, "installed", TC1, parent_id=TS),
        inv(0, "installed", TN1, parent_id=TR1),
        inv(0, "installed", TN2, parent_id=TR1),
        inv(0, "installed", TN3, parent_id=TR2),
        inv(10, "linked", TR1, relation="cooled_by", target_id=TC1),
        inv(20, "linked", TR2, relation="cooled_by", target_id=TC1),
        inv(400, "unlinked", TR2, relation="cooled_by", target_id=TC1),
        inv(700, "removed", TN2, parent_id=TR1),
        # jA holds two servers of r1
        job(50, "started", "job:jA", placement=on(TN1) + on(TN2)),
        job(600, "finished", "job:jA", placement=on(TN1) + on(TN2)),
        job(150, "started", "job:jB", placement=on(TN3)),
        job(350, "finished", "job:jB", placement=on(TN3)),
        job(550, "started", "job:jC", placement=on(TN1)),
    ]
    events += fault(TC1, "A", 100, 300)
    events += fault(TC1, "B", 500)
    return events


def tl(time: int, kind: str, other: str, edge_type: str) -> dict[str, Any]:
    return {"time": time, "kind": kind, "other": other, "edge_type": edge_type}


def test_cdu_timeline() -> None:
    g = build_graph(timeline_events())
    # affectedJobs rows: (jA, A, n1, 100), (jA, A, n2, 100), (jB, A, n3, 150),
    # (jA, B, n1, 500), (jA, B, n2, 500), (jC, B, n1, 550): one item per (job, start)
    assert component_timeline(g, TC1) == [
        tl(0, "LINKED", TS, "in_site"),
        tl(10, "LINKED", TR1, "cooled_by"),
        tl(20, "LINKED", TR2, "cooled_by"),
        tl(100, "FAULT_OPENED", FA, "had_fault"),
        tl(100, "JOB_AFFECTED", "job:jA", "ran_on"),
        tl(150, "JOB_AFFECTED", "job:jB", "ran_on"),
        tl(300, "FAULT_CLEARED", FA, "had_fault"),
        tl(400, "UNLINKED", TR2, "cooled_by"),
        tl(500, "FAULT_OPENED", FB, "had_fault"),
        tl(500, "JOB_AFFECTED", "job:jA", "ran_on"),
        tl(550, "JOB_AFFECTED", "job:jC", "ran_on"),
    ]
    # half-open window; jA's overlap that began at 100 does not reappear at 150
    assert component_timeline(g, TC1, 150, 500) == [
        tl(150, "JOB_AFFECTED", "job:jB", "ran_on"),
        tl(300, "FAULT_CLEARED", FA, "had_fault"),
        tl(400, "UNLINKED", TR2, "cooled_by"),
    ]
    assert component_timeline(g, TC1, 560) == []
    assert component_timeline(g, "cdu:nowhere") == []


def test_server_and_rack_timelines() -> None:
    g = build_graph(timeline_events())
    assert component_timeline(g, TN2) == [
        tl(0, "LINKED", TR1, "in_rack"),
        tl(50, "JOB_STARTED", "job:jA", "ran_on"),
        tl(600, "JOB_ENDED", "job:jA", "ran_on"),
        tl(700, "UNLINKED", TR1, "in_rack"),
    ]
    assert component_timeline(g, TN1, None, 600) == [
        tl(0, "LINKED", TR1, "in_rack"),
        tl(50, "JOB_STARTED", "job:jA", "ran_on"),
        tl(550, "JOB_STARTED", "job:jC", "ran_on"),
    ]
    assert component_timeline(g, TR1) == [
        tl(0, "LINKED", TN1, "in_rack"),
        tl(0, "LINKED", TN2, "in_rack"),
        tl(0, "LINKED", TS, "in_site"),
        tl(10, "LINKED", TC1, "cooled_by"),
        tl(700, "UNLINKED", TN2, "in_rack"),
    ]


# --- path ----------------------------------------------------------------------------------


def test_shortest_path(fleet: nx.MultiDiGraph) -> None:
    up = ["in_server", "in_rack", "cooled_by"]
    assert shortest_path(fleet, G10, C2, up) == {"nodes": [G10, N1, R1, C2], "exhausted": False}
    assert shortest_path(fleet, N1, R2, ["in_rack", "cooled_by"]) == {
        "nodes": [N1, R1, C2, R2],
        "exhausted": False,
    }
    # two shortest paths r1-c2-r2 and r1-site:a-r2: the smaller id at the hop wins
    assert shortest_path(fleet, R1, R2, ["in_site", "cooled_by"]) == {
        "nodes": [R1, C2, R2],
        "exhausted": False,
    }
    # the closed r4-c1 edge counts (no time filter): r2 -> c2 -> r1 -> c1 -> r4
    assert shortest_path(fleet, R2, R4, ["cooled_by"]) == {
        "nodes": [R2, C2, R1, C1, R4],
        "exhausted": False,
    }


def test_shortest_path_bounds(fleet: nx.MultiDiGraph) -> None:
    types = ["in_site", "cooled_by"]
    assert shortest_path(fleet, R1, R2, types, max_depth=1) == {"nodes": None, "exhausted": True}
    assert shortest_path(fleet, R1, R2, types, max_depth=2)["nodes"] == [R1, C2, R2]
    # the cooled_by component of r1 has no job: no path, search ran out of nodes
    assert shortest_path(fleet, R1, "job:j1", ["cooled_by"]) == {
        "nodes": None,
        "exhausted": False,
    }
    # the bound is reached, but nothing is left beyond it
    assert shortest_path(fleet, G20, R1, ["in_server"], max_depth=1) == {
        "nodes": None,
        "exhausted": False,
    }
    assert shortest_path(fleet, R1, R1, types) == {"nodes": [R1], "exhausted": False}
    assert shortest_path(fleet, "rack:nowhere", R1, types) == {"nodes": None, "exhausted": False}
    with pytest.raises(ValueError):
        shortest_path(fleet, R1, R2, types, max_depth=13)
