"""blastRadius and fleet_state on a hand-built fleet, answers worked out by hand.

Times in hours from T0; AT = +10h. Every edge is valid from -10h unless noted::

    site:s1  cdu:s1-c1, cdu:s1-c2, cdu:s1-c3; power_shelf:s1-p1, -p2, -p3;
             switch:s1-leaf (in_site); instrument:s1-i1 (attached_to)
      rack:s1-r1  cooled_by c1 and c2 (2N), powered_by p1 and p2 (N+1),
                  switch:s1-r1-tor in_rack it (a ToR has no in_site)
                  server:s1-r1-n1 (gpu g0, gpu g1), server:s1-r1-n2
      rack:s1-r2  cooled_by c2, powered_by p3, switch:s1-r2-tor;
                  server:s1-r2-n1 (gpu g0)
      rack:s1-r3  cooled_by c1 [-10h, +5h) then c3 [+5h, open) (moved), powered_by p3;
                  server:s1-r3-n1
    site:s2  cdu:s2-c1 (in fault from +0h) cools rack:s2-r1; server:s2-r1-n1

    faults: gpu:s1-r1-n1-g1 [+9h, open); cdu:s1-c2 [+20h, +30h)
    jobs:   j1 on r1-n1 [+8h, open)     j2 on r1-n2 [+2h, +9h) (ended before AT)
            j3 on r2-n1 [+9h, +12h)     j4 on r3-n1 [+1h, open)
            j5 on r1-n1 and r1-n2 [+9h, +11h)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries.blast_radius import (
    BlastRadius,
    Impacted,
    ImpactedJob,
    blast_radius,
    fleet_state,
)
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.serving.conftest import NOW, T0, FleetWriter, GraphQLRunner, H

AT = T0 + 10 * H
C1, C2, C3 = "cdu:s1-c1", "cdu:s1-c2", "cdu:s1-c3"
P1, P2, P3 = "power_shelf:s1-p1", "power_shelf:s1-p2", "power_shelf:s1-p3"
R1, R2, R3 = "rack:s1-r1", "rack:s1-r2", "rack:s1-r3"
N11, N12, N21, N31 = "server:s1-r1-n1", "server:s1-r1-n2", "server:s1-r2-n1", "server:s1-r3-n1"
G110, G111, G210 = "gpu:s1-r1-n1-g0", "gpu:s1-r1-n1-g1", "gpu:s1-r2-n1-g0"
TOR1, TOR2, LEAF = "switch:s1-r1-tor", "switch:s1-r2-tor", "switch:s1-leaf"
INSTRUMENT = "instrument:s1-i1"
DOWN, DEGRADED = "DOWN", "DEGRADED"


def at(hours: float) -> int:
    return T0 + round(hours * H)


def build_redundant_fleet(w: FleetWriter) -> None:
    t = at(-10)
    for site in ("site:s1", "site:s2"):
        w.node(site, name=site[5:])
    for part in (C1, C2, C3, P1, P2, P3, LEAF, R1, R2, R3):
        w.node(part, status="ok")
        w.edge("in_site", part, "site:s1", t)
    w.node(INSTRUMENT, kind="microscope")
    w.edge("attached_to", INSTRUMENT, "site:s1", t)
    for tor, rack in ((TOR1, R1), (TOR2, R2)):
        w.node(tor, role="tor")
        w.edge("in_rack", tor, rack, t)
    w.edge("cooled_by", R1, C1, t)
    w.edge("cooled_by", R1, C2, t)
    w.edge("powered_by", R1, P1, t)
    w.edge("powered_by", R1, P2, t)
    w.edge("cooled_by", R2, C2, t)
    w.edge("powered_by", R2, P3, t)
    w.edge("cooled_by", R3, C1, t, at(5))
    w.edge("cooled_by", R3, C3, at(5))
    w.edge("powered_by", R3, P3, t)
    for server, rack in ((N11, R1), (N12, R1), (N21, R2), (N31, R3)):
        w.node(server, gpu_count=2)
        w.edge("in_rack", server, rack, t)
    for gpu, server in ((G110, N11), (G111, N11), (G210, N21)):
        w.node(gpu, model="b200")
        w.edge("in_server", gpu, server, t)

    w.node("cdu:s2-c1")
    w.edge("in_site", "cdu:s2-c1", "site:s2", t)
    w.node("rack:s2-r1")
    w.edge("in_site", "rack:s2-r1", "site:s2", t)
    w.edge("cooled_by", "rack:s2-r1", "cdu:s2-c1", t)
    w.node("server:s2-r1-n1")
    w.edge("in_rack", "server:s2-r1-n1", "rack:s2-r1", t)

    for component, start, end in ((G111, at(9), None), (C2, at(20), at(30)),
                                  ("cdu:s2-c1", at(0), None)):
        fault = f"fault:{component}@{start}"
        w.node(fault, start, component_id=component, valid_from=start)
        w.edge("had_fault", component, fault, start, end)

    for job, server, start, end in (("job:j1", N11, at(8), None), ("job:j2", N12, at(2), at(9)),
                                    ("job:j3", N21, at(9), at(12)), ("job:j4", N31, at(1), None),
                                    ("job:j5", N11, at(9), at(11)), ("job:j5", N12, at(9), at(11)),
                                    ("job:j6", "server:s2-r1-n1", at(1), None)):
        w.node(job, start, status="running")
        w.edge("ran_on", job, server, start, end, gpus=1)


@pytest.fixture
def store() -> Iterator[CountingStore]:
    counting = CountingStore(SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW))
    build_redundant_fleet(FleetWriter(counting))
    counting.reset()
    yield counting
    counting.close()


def down(node: str, *path: str, dependency: str = "containment") -> Impacted:
    return Impacted(node, node.split(":")[0], DOWN, dependency, [*path, node])


def degraded(node: str, *path: str, dependency: str = "containment") -> Impacted:
    return Impacted(node, node.split(":")[0], DEGRADED, dependency, [*path, node])


def test_one_of_two_cdus_failing_degrades_the_rack(store: CountingStore) -> None:
    # rack:s1-r3 was moved off c1 at +5h: unaffected at +10h; gpu g1 is already
    # down (its own fault), so the failure changes nothing for it; job:j2 ended at +9h
    assert blast_radius(store, C1, AT) == BlastRadius(
        items=[
            degraded(G110, C1, R1, N11, dependency="cooling"),
            degraded(R1, C1, dependency="cooling"),
            degraded(N11, C1, R1, dependency="cooling"),
            degraded(N12, C1, R1, dependency="cooling"),
        ],
        already_in_fault=[G111],
        jobs=[
            ImpactedJob("job:j1", N11, DEGRADED),
            ImpactedJob("job:j5", N11, DEGRADED),
            ImpactedJob("job:j5", N12, DEGRADED),
        ],
        truncated=False,
    )


def test_a_rack_with_a_single_cdu_goes_down(store: CountingStore) -> None:
    answer = blast_radius(store, C2, AT)
    assert answer.items == [
        down(G210, C2, R2, N21, dependency="cooling"),
        down(R2, C2, dependency="cooling"),
        down(N21, C2, R2, dependency="cooling"),
        degraded(G110, C2, R1, N11, dependency="cooling"),
        degraded(R1, C2, dependency="cooling"),
        degraded(N11, C2, R1, dependency="cooling"),
        degraded(N12, C2, R1, dependency="cooling"),
    ]
    assert answer.jobs == [
        ImpactedJob("job:j1", N11, DEGRADED),
        ImpactedJob("job:j3", N21, DOWN),
        ImpactedJob("job:j5", N11, DEGRADED),
        ImpactedJob("job:j5", N12, DEGRADED),
    ]
    assert TOR2 not in {i.id for i in answer.items}  # the rack depends on its ToR, not back


def test_with_the_second_cdu_already_in_fault_the_rack_goes_down(store: CountingStore) -> None:
    # at +25h c2 is in fault: r1 was degraded, r2 already down (not listed);
    # c1 failing too takes r1 and what it holds down
    assert blast_radius(store, C1, at(25)) == BlastRadius(
        items=[
            down(G110, C1, R1, N11, dependency="cooling"),
            down(R1, C1, dependency="cooling"),
            down(N11, C1, R1, dependency="cooling"),
            down(N12, C1, R1, dependency="cooling"),
        ],
        already_in_fault=[C2, G111],
        jobs=[ImpactedJob("job:j1", N11, DOWN)],
        truncated=False,
    )


def test_before_the_move_the_rack_depended_on_the_cdu(store: CountingStore) -> None:
    # at +4h rack:s1-r3 is still cooled by c1 alone; j4 runs on it; the gpu fault
    # has not opened yet, so both gpus of r1-n1 are degraded
    answer = blast_radius(store, C1, at(4))
    assert [(i.id, i.impact) for i in answer.items] == [
        (R3, DOWN), (N31, DOWN),
        (G110, DEGRADED), (G111, DEGRADED), (R1, DEGRADED), (N11, DEGRADED), (N12, DEGRADED),
    ]
    assert answer.already_in_fault == []
    assert answer.jobs == [ImpactedJob("job:j2", N12, DEGRADED), ImpactedJob("job:j4", N31, DOWN)]


def test_power_shelves_with_a_spare_degrade_and_a_single_shelf_takes_racks_down(
    store: CountingStore,
) -> None:
    assert blast_radius(store, P1, AT).items == [
        degraded(G110, P1, R1, N11, dependency="power"),
        degraded(R1, P1, dependency="power"),
        degraded(N11, P1, R1, dependency="power"),
        degraded(N12, P1, R1, dependency="power"),
    ]
    answer = blast_radius(store, P3, AT)
    assert answer.items == [
        down(G210, P3, R2, N21, dependency="power"),
        down(R2, P3, dependency="power"),
        down(R3, P3, dependency="power"),
        down(N21, P3, R2, dependency="power"),
        down(N31, P3, R3, dependency="power"),
    ]
    assert answer.jobs == [ImpactedJob("job:j3", N21, DOWN), ImpactedJob("job:j4", N31, DOWN)]


def test_a_site_failure_takes_everything_in_it_down(store: CountingStore) -> None:
    answer = blast_radius(store, "site:s1", AT)
    s = "site:s1"
    assert answer.items == [
        down(C1, s), down(C2, s), down(C3, s),
        down(G110, s, R1, N11), down(G210, s, R2, N21),
        down(INSTRUMENT, s),
        down(P1, s), down(P2, s), down(P3, s),
        down(R1, s), down(R2, s), down(R3, s),
        down(N11, s, R1), down(N12, s, R1), down(N21, s, R2), down(N31, s, R3),
        down(LEAF, s),
    ]  # ToR switches have no in_site edge: nothing contains them (see the module's readings)
    assert answer.already_in_fault == [G111]  # site:s2's faulty CDU is out of scope
    assert [(j.job_id, j.server_id) for j in answer.jobs] == [
        ("job:j1", N11), ("job:j3", N21), ("job:j4", N31), ("job:j5", N11), ("job:j5", N12),
    ]
    assert {j.impact for j in answer.jobs} == {DOWN}


def test_a_tor_switch_failure_takes_its_rack_down(store: CountingStore) -> None:
    assert blast_radius(store, TOR1, AT).items == [
        down(G110, TOR1, R1, N11, dependency="network"),
        down(R1, TOR1, dependency="network"),
        down(N11, TOR1, R1, dependency="network"),
        down(N12, TOR1, R1, dependency="network"),
    ]
    assert blast_radius(store, LEAF, AT).items == []  # no rack has it in_rack


def test_a_server_failure_takes_its_gpus_down_and_lists_no_jobs(store: CountingStore) -> None:
    # the failed component itself is not an item, so the jobs on it are not listed
    answer = blast_radius(store, N11, AT)
    assert answer.items == [down(G110, N11)]
    assert answer.jobs == []


def test_the_limit_cuts_the_items_and_says_so(store: CountingStore) -> None:
    answer = blast_radius(store, C2, AT, limit=2)
    assert [i.id for i in answer.items] == [G210, R2]
    assert answer.truncated
    assert len(answer.jobs) == 4  # the limit bounds the items only
    assert not blast_radius(store, C2, AT, limit=7).truncated


def test_reads_are_one_batched_call_per_hop(store: CountingStore) -> None:
    blast_radius(store, C1, AT)
    assert [(m, d[0] if d else None, d[1] if len(d) > 1 else None) for m, d in store.log] == [
        ("get_nodes", 1, None),
        ("neighbours", "in_site", "out"),  # the cdu's site
        ("neighbours", "in_site", "in"),  # what is in the site
        ("neighbours", "attached_to", "in"),
        ("neighbours", "in_rack", "in"),  # servers and switches of all racks
        ("neighbours", "cooled_by", "out"),
        ("neighbours", "powered_by", "out"),
        ("neighbours", "in_server", "in"),
        ("neighbours", "had_fault", "out"),  # every component loaded, at once
        ("neighbours", "ran_on", "in"),  # the impacted servers
    ]
    store.reset()
    blast_radius(store, G110, AT)  # up through the server and the rack to the site
    up = [d[0] for m, d in store.log[1:4]]
    assert up == ["in_server", "in_rack", "in_site"]


def test_a_component_out_of_its_site_stands_in_for_it() -> None:
    with SQLiteGraphStore(FLEET, ":memory:") as inner:
        w = FleetWriter(inner)
        w.node("cdu:x-c1")
        w.edge("in_site", "cdu:x-c1", "site:x", at(-10), at(-5))  # taken out before AT
        w.edge("cooled_by", "rack:x-r1", "cdu:x-c1", at(-10))
        w.edge("in_rack", "server:x-r1-n1", "rack:x-r1", at(-10))
        assert [(i.id, i.impact, i.path) for i in blast_radius(inner, "cdu:x-c1", AT).items] == [
            ("rack:x-r1", DOWN, ["cdu:x-c1", "rack:x-r1"]),
            ("server:x-r1-n1", DOWN, ["cdu:x-c1", "rack:x-r1", "server:x-r1-n1"]),
        ]


def test_unknown_and_wrong_components_are_clear_errors(store: CountingStore) -> None:
    with pytest.raises(NotFound, match="cdu:nope"):
        blast_radius(store, "cdu:nope", AT)
    with pytest.raises(InvalidArgument, match="not a component"):
        blast_radius(store, "job:j1", AT)
    with pytest.raises(InvalidArgument, match="not a fleetgraph id"):
        blast_radius(store, "nonsense", AT)
    with pytest.raises(InvalidArgument, match="limit"):
        blast_radius(store, C1, AT, limit=0)


# --- fleet_state, for placement -------------------------------------------------------


def test_fleet_state_of_sites(store: CountingStore) -> None:
    state = fleet_state(store, ["site:s1", "site:s2"], AT)
    assert state.down == {G111, "cdu:s2-c1", "rack:s2-r1", "server:s2-r1-n1"}
    assert state.degraded == set()
    assert state.contents("site:s1", "rack") == [R1, R2, R3]
    assert state.contents(R1) == [N11, N12]  # servers; the ToR is not contained
    assert [state.is_healthy(r) for r in (R1, R2, R3, "rack:s2-r1")] == [True, True, True, False]
    reads_for_two_sites = store.calls["neighbours"]

    store.reset()
    later = fleet_state(store, ["site:s1"], at(25))
    assert later.down == {C2, G111, R2, N21, G210}
    assert later.degraded == {R1, N11, N12, G110}
    assert store.calls["neighbours"] == reads_for_two_sites  # per hop, not per site
    assert later.health(R1) == DEGRADED and later.health(R3) == "OK"
    both = fleet_state(store, ["site:s1"], at(25), extra_down=frozenset({C1}))
    assert {R1, N11, N12, G110} <= both.down
    assert later.with_down([C1]).down == both.down


# --- GraphQL -------------------------------------------------------------------------

BLAST = """query ($id: ID!, $at: DateTime, $limit: Int) {
  blastRadius(componentId: $id, at: $at, limit: $limit) {
    componentId at truncated alreadyInFault
    items { id type impact dependency path node { id type } }
    jobs { jobId serverId impact job { id status } server { id } }
  }
}"""


def iso(us: int) -> str:
    from fleetgraph.serving.times import to_datetime

    value = to_datetime(us)
    assert value is not None
    return value.isoformat()


def test_graphql_answer_with_nodes(store: CountingStore) -> None:
    data = GraphQLRunner(store)(BLAST, {"id": C2, "at": iso(AT), "limit": 4})["blastRadius"]
    assert data["componentId"] == C2
    assert data["at"] == iso(AT)
    assert data["truncated"] is True
    assert data["alreadyInFault"] == [G111]
    assert data["items"][:2] == [
        {"id": G210, "type": "gpu", "impact": "DOWN", "dependency": "cooling",
         "path": [C2, R2, N21, G210], "node": {"id": G210, "type": "gpu"}},
        {"id": R2, "type": "rack", "impact": "DOWN", "dependency": "cooling",
         "path": [C2, R2], "node": {"id": R2, "type": "rack"}},
    ]
    assert [(i["id"], i["impact"]) for i in data["items"][2:]] == [
        (N21, "DOWN"), (G110, "DEGRADED"),
    ]
    assert data["jobs"][1] == {
        "jobId": "job:j3", "serverId": N21, "impact": "DOWN",
        "job": {"id": "job:j3", "status": "running"}, "server": {"id": N21},
    }


def test_graphql_at_defaults_to_now(store: CountingStore) -> None:
    # now is +24h, inside c2's fault [+20h, +30h): c1 failing takes r1 down
    data = GraphQLRunner(store)(BLAST, {"id": C1})["blastRadius"]
    assert data["at"] == iso(NOW)
    assert data["alreadyInFault"] == [C2, G111]
    assert [(i["id"], i["impact"]) for i in data["items"]] == [
        (G110, "DOWN"), (R1, "DOWN"), (N11, "DOWN"), (N12, "DOWN"),
    ]


def test_graphql_errors_are_clear(store: CountingStore) -> None:
    gql = GraphQLRunner(store)
    assert gql.errors(BLAST, {"id": "cdu:nope"}) == ["no component 'cdu:nope' in the graph"]
    [message] = gql.errors(BLAST, {"id": C1, "limit": 0})
    assert "'limit' must be between 1 and 10000" in message
    [message] = gql.errors(BLAST, {"id": "job:j1"})
    assert "not a component" in message


def test_graphql_reads_do_not_grow_with_the_fleet(big_fleet, gql_on) -> None:
    query = f"""{{ blastRadius(componentId: "cdu:big-c1", at: "{iso(at(2.5))}") {{
        items {{ id node {{ id }} }} jobs {{ job {{ id }} server {{ id }} }} }} }}"""
    seen = []
    for racks, servers, jobs in ((1, 1, 1), (3, 2, 2), (12, 8, 3)):
        store = big_fleet(racks, servers, jobs)
        data = gql_on(store)(query)["blastRadius"]
        assert len(data["items"]) == racks + racks * servers  # every rack and server down
        assert len(data["jobs"]) == racks * servers * jobs
        assert store.calls["neighbours"] == 9
        assert 2 <= store.calls["get_nodes"] <= 3  # the component, then the items and jobs
        seen.append(dict(store.calls))
    assert seen[0] == seen[1] == seen[2]
