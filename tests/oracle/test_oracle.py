"""Hand-worked checks of the oracle: small event lists, answers worked out by hand."""

from __future__ import annotations

import random
from typing import Any

import networkx as nx
import pytest

from fleetgraph.bench.reference.graph import build_graph
from fleetgraph.bench.reference.queries import affected_jobs, cut, model_hotness, overlaps

H = 3_600_000_000  # one hour in microseconds

_counter = 0


def _event_id() -> str:
    global _counter
    _counter += 1
    return f"e{_counter:05d}"


def inv(t: int, kind: str, component: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    ev: dict[str, Any] = {
        "event_id": _event_id(),
        "event_time": t,
        "kind": kind,
        "component_id": component,
        "parent_id": None,
        "relation": None,
        "target_id": None,
        "attributes": {},
    }
    ev.update(fields)
    return ("inventory", ev)


def tel(t: int, kind: str, component: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    ev: dict[str, Any] = {
        "event_id": _event_id(),
        "event_time": t,
        "kind": kind,
        "component_id": component,
        "site_id": None,
        "metric": None,
        "value": None,
        "status": None,
        "fault_id": None,
        "fault_code": None,
        "severity": None,
        "power_headroom_kw": None,
        "thermal_headroom_kw": None,
        "battery_soc": None,
        "solar_kw": None,
    }
    ev.update(fields)
    return ("telemetry", ev)


def job(t: int, kind: str, job_id: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    ev: dict[str, Any] = {
        "event_id": _event_id(),
        "event_time": t,
        "kind": kind,
        "job_id": job_id,
        "application_id": None,
        "user_id": None,
        "job_kind": None,
        "gpus_requested": None,
        "model_id": None,
        "inputs": [],
        "outputs": [],
        "placement": [],
        "exit_reason": None,
    }
    ev.update(fields)
    return ("jobs", ev)


def art(t: int, kind: str, artifact: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    ev: dict[str, Any] = {
        "event_id": _event_id(),
        "event_time": t,
        "kind": kind,
        "artifact_id": artifact,
        "artifact_kind": None,
        "content_hash": None,
        "size_bytes": None,
        "model_id": None,
        "derived_from": [],
        "site_id": None,
        "tier": None,
        "hits": None,
        "attributes": {},
    }
    ev.update(fields)
    return ("artifacts", ev)


def on(server: str, *gpus: str) -> list[dict[str, Any]]:
    return [{"server_id": server, "gpu_ids": list(gpus)}]


def run(
    job_id: str, server: str, start: int, end: int | None = None, end_kind: str = "finished"
) -> list[tuple[str, dict[str, Any]]]:
    events = [
        job(
            start - 5,
            "submitted",
            job_id,
            application_id="application:a1",
            user_id="user:u1",
            job_kind="training",
            gpus_requested=1,
            model_id="model:m1",
            inputs=["dataset:ds-1"],
        ),
        job(
            start,
            "started",
            job_id,
            placement=on(server, server.replace("server:", "gpu:") + "-g0"),
        ),
    ]
    if end is not None:
        events.append(
            job(
                end,
                end_kind,
                job_id,
                placement=on(server, server.replace("server:", "gpu:") + "-g0"),
                outputs=["artifact:out-" + job_id],
            )
        )
    return events


def fault(
    component: str, name: str, start: int, end: int | None = None, status: str = "fault"
) -> list[tuple[str, dict[str, Any]]]:
    fid = f"{component}@{name}"
    events = [
        tel(
            start,
            "status",
            component,
            status=status,
            fault_id=fid,
            fault_code="E1",
            severity="critical",
        )
    ]
    if end is not None:
        events.append(tel(end, "status", component, status="ok", fault_id=fid))
    return events


S1, R1, R2 = "site:s1", "rack:s1-r1", "rack:s1-r2"
C1, C2, P1 = "cdu:s1-c1", "cdu:s1-c2", "power_shelf:s1-p1"
N11, N12, N21 = "server:s1-r1-n1", "server:s1-r1-n2", "server:s1-r2-n1"
FA, FB = "fault:cdu:s1-c1@A", "fault:cdu:s1-c1@B"


def fleet_events() -> list[tuple[str, dict[str, Any]]]:
    events = [
        inv(0, "installed", S1, attributes={"name": "one", "region": "eu"}),
        inv(0, "installed", R1, parent_id=S1, attributes={"capacity_kw": "500"}),
        inv(0, "installed", R2, parent_id=S1),
        inv(0, "installed", C1, parent_id=S1),
        inv(0, "installed", C2, parent_id=S1),
        inv(0, "installed", P1, parent_id=S1),
        inv(0, "installed", N11, parent_id=R1),
        inv(0, "installed", N12, parent_id=R1),
        inv(0, "installed", N21, parent_id=R2),
        inv(0, "installed", "gpu:s1-r1-n1-g0", parent_id=N11),
        inv(10, "linked", R1, relation="cooled_by", target_id=C1),
        inv(10, "linked", R2, relation="cooled_by", target_id=C1),
        inv(10, "linked", R2, relation="powered_by", target_id=P1),
        # r2 moves to another CDU before c1's fault: its jobs are not affected
        inv(100, "unlinked", R2, relation="cooled_by", target_id=C1),
        inv(100, "linked", R2, relation="cooled_by", target_id=C2),
        # n2 leaves r1 during fault A
        inv(260, "removed", N12, parent_id=R1),
        tel(5, "heartbeat", C1),
        tel(205, "heartbeat", "cdu:nowhere"),
    ]
    events += fault(C1, "A", 200, 300)
    events += fault(C1, "B", 400)  # still open
    events += fault(P1, "C", 600, 700)
    events += fault(R2, "D", 800, status="degraded")
    events += fault(S1, "E", 1000, 1100)
    events += fault(N11, "F", 1200, 1300)
    events += fault("gpu:s1-r1-n1-g0", "G", 0, 2000)
    events += run("job:j1", N11, 150, 250)
    events += run("job:j2", N21, 150)  # open, on the rack that moved away
    events += run("job:j3", N11, 320, 380)  # between the faults
    events += run("job:j4", N11, 280)  # open
    events += run("job:j5", N11, 500)  # open
    events += run("job:j6", N11, 100, 200)  # ends exactly when fault A starts
    events += run("job:j7", N11, 350)
    events.append(job(450, "cancelled", "job:j7", exit_reason="user"))  # no placement given
    events += run("job:j8", N21, 900, 950, end_kind="failed")
    events += run("job:j9", N12, 220, 290)
    return events


def row(
    job_id: str,
    fault_id: str,
    server: str,
    rack: str,
    start: int | None,
    end: int | None,
    site: str | None = S1,
) -> dict[str, Any]:
    return {
        "job": job_id,
        "fault": fault_id,
        "server": server,
        "rack": rack,
        "site": site,
        "overlap_from": start,
        "overlap_to": end,
    }


@pytest.fixture(scope="module")
def fleet() -> nx.MultiDiGraph:
    return build_graph(fleet_events())


# --- intervals -------------------------------------------------------------------


def test_half_open_overlap() -> None:
    assert not overlaps((1, 5), (5, 9))
    assert overlaps((1, 6), (5, 9))
    assert overlaps((None, None), (5, 9))
    assert overlaps((None, 6), (5, None))
    assert not overlaps((None, 5), (5, None))
    assert cut((1, None), (None, 9)) == (1, 9)
    assert cut((None, None), (None, None)) == (None, None)
    assert cut((1, 5), (5, 9)) is None


# --- graph -----------------------------------------------------------------------


def test_graph_nodes_and_edges(fleet: nx.MultiDiGraph) -> None:
    assert fleet.nodes[S1] == {"name": "one", "region": "eu", "status": "ok"}  # E cleared
    assert fleet.nodes[R1]["capacity_kw"] == "500"
    assert fleet.edges[R1, S1, "in_site"] == {"valid_from": 0, "valid_to": None}
    assert fleet.edges[R2, C1, "cooled_by"] == {"valid_from": 10, "valid_to": 100}
    assert fleet.edges[N12, R1, "in_rack"] == {"valid_from": 0, "valid_to": 260}
    assert fleet.nodes[N12]["status"] == "removed"
    assert fleet.edges[C1, FA, "had_fault"] == {"valid_from": 200, "valid_to": 300}
    assert fleet.edges[C1, FB, "had_fault"] == {"valid_from": 400, "valid_to": None}
    assert fleet.nodes[FA] == {
        "component_id": C1,
        "code": "E1",
        "severity": "critical",
        "valid_from": 200,
        "valid_to": 300,
    }
    assert fleet.nodes[C1]["status"] == "fault"
    assert fleet.nodes["job:j1"] == {
        "kind": "training",
        "gpus_requested": 1,
        "status": "finished",
        "submitted_at": 145,
        "started_at": 150,
        "finished_at": 250,
    }
    assert fleet.edges["job:j1", N11, "ran_on"] == {"gpus": 1, "valid_from": 150, "valid_to": 250}
    assert fleet.edges["job:j1", "gpu:s1-r1-n1-g0", "allocated"] == {
        "valid_from": 150,
        "valid_to": 250,
    }
    assert fleet.edges["job:j1", "dataset:ds-1", "read"] == {"at": 145}
    assert fleet.edges["job:j1", "artifact:out-job:j1", "produced"] == {"at": 250}
    for etype, target in (
        ("owned_by", "application:a1"),
        ("launched_by", "user:u1"),
        ("used_model", "model:m1"),
    ):
        assert fleet.has_edge("job:j1", target, etype)
    # cancelled without a placement closes the started placement
    assert fleet.nodes["job:j7"]["status"] == "cancelled"
    assert fleet.nodes["job:j7"]["exit_reason"] == "user"
    assert fleet.edges["job:j7", N11, "ran_on"]["valid_to"] == 450
    assert fleet.edges["job:j7", "gpu:s1-r1-n1-g0", "allocated"]["valid_to"] == 450
    assert fleet.edges["job:j4", N11, "ran_on"]["valid_to"] is None
    # heartbeats leave no trace
    assert "cdu:nowhere" not in fleet


def test_readings_and_site_energy() -> None:
    g = build_graph(
        [
            tel(10, "reading", C1, metric="supply_temp_c", value=31.5),
            tel(20, "reading", C1, metric="supply_temp_c", value=32.0),
            tel(15, "reading", C1, metric="flow_lpm", value=900.0),
            tel(10, "reading", C1, metric="temperature_c", value=50.0),  # not a CDU metric
            tel(10, "reading", "gpu:g1", metric="utilization", value=0.5),
            tel(10, "reading", "gpu:g1", metric="fan_rpm", value=3000.0),  # noise
            tel(10, "reading", P1, metric="output_kw", value=120.0),
            tel(10, "site_energy", S1, power_headroom_kw=50.0, battery_soc=0.5),
            tel(20, "site_energy", S1, power_headroom_kw=40.0, solar_kw=3.0),
        ]
    )
    assert g.nodes[C1] == {"supply_temp_c": 32.0, "flow_lpm": 900.0}
    assert g.nodes["gpu:g1"] == {"utilization": 0.5}
    assert g.nodes[P1] == {"output_kw": 120.0}
    assert g.nodes[S1] == {"power_headroom_kw": 40.0, "battery_soc": 0.5, "solar_kw": 3.0}


def test_artifact_nodes_and_edges() -> None:
    g = build_graph(
        [
            art(
                5,
                "registered",
                "artifact:a1",
                artifact_kind="weights",
                model_id="model:m1",
                content_hash="abc",
                size_bytes=10,
                derived_from=["dataset:ds-1"],
                attributes={"format": "safetensors"},
            ),
            art(6, "registered", "artifact:a9", artifact_kind="eval_output", model_id="model:m1"),
            art(10, "replicated", "artifact:a1", site_id=S1, tier=1),
            art(20, "accessed", "artifact:a1", site_id=S1, hits=4),
            art(30, "evicted", "artifact:a1", site_id=S1),
        ]
    )
    assert g.nodes["artifact:a1"] == {
        "format": "safetensors",
        "kind": "weights",
        "content_hash": "abc",
        "size_bytes": 10,
        "created_at": 5,
    }
    assert g.has_edge("artifact:a1", "model:m1", "artifact_of")
    assert not g.has_edge("artifact:a9", "model:m1", "artifact_of")
    assert g.has_edge("artifact:a1", "dataset:ds-1", "derived_from")
    assert g.edges["artifact:a1", S1, "cached_at"] == {
        "tier": 1,
        "last_access": 20,
        "hits": 4,
        "valid_from": 10,
        "valid_to": 30,
    }


# --- merge rule --------------------------------------------------------------------


def _snapshot(g: nx.MultiDiGraph) -> tuple[Any, Any]:
    nodes = sorted((n, sorted(d.items())) for n, d in g.nodes(data=True))
    edges = sorted((u, v, k, sorted(d.items())) for u, v, k, d in g.edges(keys=True, data=True))
    return nodes, edges


@pytest.mark.parametrize("seed", range(8))
def test_out_of_order_and_duplicates_give_the_same_graph(seed: int) -> None:
    events = fleet_events()
    reference = build_graph(events)
    rng = random.Random(seed)
    shuffled = events + rng.sample(events, len(events) // 3)  # re-deliveries
    rng.shuffle(shuffled)
    g = build_graph(shuffled)
    assert _snapshot(g) == _snapshot(reference)
    for component in (C1, P1, R2, S1, N11):
        assert affected_jobs(g, component) == affected_jobs(reference, component)


def test_ties_set_beats_empty_then_larger_wins() -> None:
    events = [
        inv(10, "linked", R1, relation="cooled_by", target_id=C1),
        inv(10, "unlinked", R1, relation="cooled_by", target_id=C1),
        tel(20, "status", C2, status="fault"),
        tel(20, "status", C2, status="maintenance"),
        art(5, "replicated", "artifact:a1", site_id=S1, tier=0),
        art(30, "accessed", "artifact:a1", site_id=S1, hits=5),
        art(30, "accessed", "artifact:a1", site_id=S1, hits=3),
    ]
    for order in (events, events[::-1]):
        g = build_graph(order)
        assert g.edges[R1, C1, "cooled_by"] == {"valid_from": 10, "valid_to": 10}
        assert g.nodes[C2]["status"] == "maintenance"
        assert g.edges["artifact:a1", S1, "cached_at"]["hits"] == 5


def test_newest_event_wins_per_property() -> None:
    events = [
        inv(0, "installed", R1, parent_id=S1, attributes={"capacity_kw": "250"}),
        inv(50, "updated", R1, attributes={"capacity_kw": "500", "gpu_generation": "b200"}),
        inv(40, "updated", R1, attributes={"capacity_kw": "400"}),
        tel(30, "status", R1, status="degraded"),
        # closing an edge at an older time than its opening does not close it
        inv(20, "linked", R1, relation="powered_by", target_id=P1),
        inv(15, "unlinked", R1, relation="powered_by", target_id=P1),
    ]
    g = build_graph(events)
    assert g.nodes[R1] == {"capacity_kw": "500", "gpu_generation": "b200", "status": "degraded"}
    assert g.edges[R1, P1, "powered_by"] == {"valid_from": 20, "valid_to": None}


# --- affectedJobs --------------------------------------------------------------------


def test_cdu_fault_all_time(fleet: nx.MultiDiGraph) -> None:
    assert affected_jobs(fleet, C1) == [
        row("job:j1", FA, N11, R1, 200, 250),
        row("job:j9", FA, N12, R1, 220, 260),  # n2 left the rack at 260
        row("job:j4", FA, N11, R1, 280, 300),
        row("job:j4", FB, N11, R1, 400, None),
        row("job:j7", FB, N11, R1, 400, 450),  # closed by the cancel without placement
        row("job:j5", FB, N11, R1, 500, None),
    ]
    # not affected: j2 (its rack was moved to c2 before the fault), j3 (ran between the
    # faults), j6 (ended exactly when fault A started), j8 (on r2)


def test_cdu_fault_windows(fleet: nx.MultiDiGraph) -> None:
    assert affected_jobs(fleet, C1, 0, 260) == [
        row("job:j1", FA, N11, R1, 200, 250),
        row("job:j9", FA, N12, R1, 220, 260),
    ]
    assert affected_jobs(fleet, C1, 450) == [
        row("job:j4", FB, N11, R1, 450, None),
        row("job:j5", FB, N11, R1, 500, None),
    ]
    assert affected_jobs(fleet, C1, None, 200) == []
    assert affected_jobs(fleet, C1, 300, 400) == []
    assert affected_jobs(fleet, C1, 299, 401) == [
        row("job:j4", FA, N11, R1, 299, 300),
        row("job:j4", FB, N11, R1, 400, 401),
        row("job:j7", FB, N11, R1, 400, 401),
    ]


def test_power_shelf_rack_site_server_faults(fleet: nx.MultiDiGraph) -> None:
    assert affected_jobs(fleet, P1) == [
        row("job:j2", "fault:power_shelf:s1-p1@C", N21, R2, 600, 700),
    ]
    fd = "fault:rack:s1-r2@D"
    assert affected_jobs(fleet, R2) == [
        row("job:j2", fd, N21, R2, 800, None),
        row("job:j8", fd, N21, R2, 900, 950),
    ]
    fe = "fault:site:s1@E"
    assert affected_jobs(fleet, S1) == [
        row("job:j2", fe, N21, R2, 1000, 1100),
        row("job:j4", fe, N11, R1, 1000, 1100),
        row("job:j5", fe, N11, R1, 1000, 1100),
    ]
    ff = "fault:server:s1-r1-n1@F"
    assert affected_jobs(fleet, N11, 1250) == [
        row("job:j4", ff, N11, R1, 1250, 1300),
        row("job:j5", ff, N11, R1, 1250, 1300),
    ]


def test_gpu_fault_reaches_the_jobs_it_was_allocated_to(fleet: nx.MultiDiGraph) -> None:
    # every job on n11 holds its g0 (run() allocates it); fault G is [0, 2000)
    fg = "fault:gpu:s1-r1-n1-g0@G"
    assert affected_jobs(fleet, "gpu:s1-r1-n1-g0") == [
        row("job:j6", fg, N11, R1, 100, 200),
        row("job:j1", fg, N11, R1, 150, 250),
        row("job:j4", fg, N11, R1, 280, 2000),
        row("job:j3", fg, N11, R1, 320, 380),
        row("job:j7", fg, N11, R1, 350, 450),
        row("job:j5", fg, N11, R1, 500, 2000),
    ]
    assert affected_jobs(fleet, "gpu:s1-r1-n1-g0", 300, 330) == [
        row("job:j4", fg, N11, R1, 300, 330),
        row("job:j3", fg, N11, R1, 320, 330),
    ]


def test_switch_fault_reaches_the_racks_it_serves() -> None:
    events = [
        inv(0, "installed", "site:x"),
        inv(0, "installed", "rack:x-r1", parent_id="site:x"),
        inv(0, "installed", "rack:x-r2", parent_id="site:x"),
        inv(0, "installed", "switch:x-tor1", parent_id="rack:x-r1"),
        inv(0, "installed", "server:x-r1-n1", parent_id="rack:x-r1"),
        inv(0, "installed", "server:x-r2-n1", parent_id="rack:x-r2"),
        *fault("switch:x-tor1", "A", 100, 200),
        *run("job:k1", "server:x-r1-n1", 50, 150),
        *run("job:k2", "server:x-r2-n1", 50, 150),  # another rack's network
    ]
    assert affected_jobs(build_graph(events), "switch:x-tor1") == [
        row("job:k1", "fault:switch:x-tor1@A", "server:x-r1-n1", "rack:x-r1", 100, 150,
            site="site:x"),
    ]


def test_unsupported_or_unknown_components(fleet: nx.MultiDiGraph) -> None:
    assert affected_jobs(fleet, "gpu:s1-r1-n2-g0") == []  # no fault
    assert affected_jobs(fleet, "cdu:unknown") == []
    assert affected_jobs(fleet, C2) == []  # no fault


def test_relinking_replaces_the_interval() -> None:
    events = [
        inv(0, "installed", "rack:x-r1", parent_id="site:x"),
        inv(0, "installed", "server:x-r1-n1", parent_id="rack:x-r1"),
        inv(0, "linked", "rack:x-r1", relation="cooled_by", target_id="cdu:x-c1"),
        inv(100, "unlinked", "rack:x-r1", relation="cooled_by", target_id="cdu:x-c1"),
        inv(500, "linked", "rack:x-r1", relation="cooled_by", target_id="cdu:x-c1"),
        *fault("cdu:x-c1", "A", 50, 80),
        *fault("cdu:x-c1", "B", 600, 700),
        *run("job:k1", "server:x-r1-n1", 0),
    ]
    g = build_graph(events)
    # one interval per edge key: [0, 100) was replaced by [500, open)
    assert affected_jobs(g, "cdu:x-c1") == [
        row("job:k1", "fault:cdu:x-c1@B", "server:x-r1-n1", "rack:x-r1", 600, 700, site="site:x"),
    ]


def test_rack_without_site() -> None:
    events = [
        inv(0, "installed", "server:y-n1", parent_id="rack:y-r1"),
        *fault("rack:y-r1", "A", 10),
        *run("job:k1", "server:y-n1", 20, 30),
    ]
    assert affected_jobs(build_graph(events), "rack:y-r1") == [
        row("job:k1", "fault:rack:y-r1@A", "server:y-n1", "rack:y-r1", 20, 30, site=None),
    ]


# --- modelHotness ----------------------------------------------------------------------

W0, W1 = 100 * H, 124 * H


def hotness_events() -> list[tuple[str, dict[str, Any]]]:
    def rep(t: int, a: str, site: str, tier: int) -> tuple[str, dict[str, Any]]:
        return art(t, "replicated", a, site_id=site, tier=tier)

    def acc(t: int, a: str, site: str, hits: int) -> tuple[str, dict[str, Any]]:
        return art(t, "accessed", a, site_id=site, hits=hits)

    def evict(t: int, a: str, site: str) -> tuple[str, dict[str, Any]]:
        return art(t, "evicted", a, site_id=site)

    a1, a2, a4 = "artifact:a1", "artifact:a2", "artifact:a4"
    return [
        art(0, "registered", "model:m1", artifact_kind="model"),
        art(0, "registered", a1, artifact_kind="weights", model_id="model:m1"),
        art(0, "registered", a2, artifact_kind="checkpoint", model_id="model:m1"),
        art(0, "registered", a4, artifact_kind="weights", model_id="model:m2"),
        rep(W1 - 12 * H, a1, "site:s1", 0),
        acc(W1 - 6 * H, a1, "site:s1", 3),
        rep(W1 - 12 * H, a2, "site:s1", 1),
        rep(W0 - 10 * H, a1, "site:s2", 0),
        evict(W0 - H, a1, "site:s2"),  # before window
        rep(W0 - 2 * H, a2, "site:s2", 0),
        acc(W1 + H, a2, "site:s2", 1),  # after end: age 0
        rep(W1 - H, a2, "site:s3", 0),
        acc(W1, a2, "site:s3", 1),
        rep(W0 - H, a1, "site:s5", 0),
        evict(W0 + H, a1, "site:s5"),  # evicted in window
        rep(W0 - 5 * H, a1, "site:s6", 2),
        evict(W0, a1, "site:s6"),  # ends at window start
        rep(W1, a1, "site:s7", 2),  # starts at window end
        rep(W1 - H, a4, "site:s1", 0),  # another model's weights
        rep(W1 - 3 * H, a1, "site:s8", 2),  # tier 2, never accessed
    ]


def replica(a: str, tier: int, last: int, hits: int | None, score: float) -> dict[str, Any]:
    return {
        "artifact": a,
        "tier": tier,
        "last_access": last,
        "hits": hits,
        "score": pytest.approx(score),
    }


def test_model_hotness() -> None:
    g = build_graph(hotness_events())
    expected = [
        {
            "site": "site:s2",
            "score": pytest.approx(2.0),  # 1.0 * 1 * (1 + log2 2)
            "replicas": [replica("artifact:a2", 0, W1 + H, 1, 2.0)],
        },
        {
            "site": "site:s3",
            "score": pytest.approx(2.0),  # tie with s2: by site id
            "replicas": [replica("artifact:a2", 0, W1, 1, 2.0)],
        },
        {
            "site": "site:s1",
            "score": pytest.approx(1.625),
            "replicas": [
                replica("artifact:a1", 0, W1 - 6 * H, 3, 1.5),  # 1 * 0.5 * 3
                replica("artifact:a2", 1, W1 - 12 * H, None, 0.125),  # 0.5 * 0.25
            ],
        },
        {
            "site": "site:s8",
            "score": pytest.approx(0.1 * 2**-0.5),
            "replicas": [replica("artifact:a1", 2, W1 - 3 * H, None, 0.1 * 2**-0.5)],
        },
        {
            "site": "site:s5",
            "score": pytest.approx(2 ** (-25 / 6)),  # age 25 h
            "replicas": [replica("artifact:a1", 0, W0 - H, None, 2 ** (-25 / 6))],
        },
    ]
    assert model_hotness(g, "model:m1", W0, W1) == expected
    assert model_hotness(g, "model:m2", W0, W1) == [
        {
            "site": "site:s1",
            "score": pytest.approx(0.5 ** (1 / 6)),  # age 1 h
            "replicas": [replica("artifact:a4", 0, W1 - H, None, 0.5 ** (1 / 6))],
        },
    ]
    assert model_hotness(g, "model:none", W0, W1) == []


def test_model_hotness_unbounded_start() -> None:
    g = build_graph(hotness_events())
    ranked = model_hotness(g, "model:m1", None, W1)
    # the replicas that ended before W0 now count too; the one starting at W1 still not
    assert [s["site"] for s in ranked] == [
        "site:s2",
        "site:s3",
        "site:s1",
        "site:s8",
        "site:s5",
        "site:s6",
    ]
    assert ranked[0]["score"] == pytest.approx(2.0 + 2 ** (-34 / 6))  # + a1, age 34 h
    assert ranked[-1]["replicas"] == [
        replica("artifact:a1", 2, W0 - 5 * H, None, 0.1 * 2 ** (-29 / 6))
    ]
