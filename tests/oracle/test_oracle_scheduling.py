"""Hand-worked checks of placement in the oracle."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from fleetgraph.bench.reference.graph import build_graph
from fleetgraph.bench.reference.scheduling import placement

from .test_oracle import art, fault, inv, job, on, tel

Events = list[tuple[str, dict[str, Any]]]


def site(t: int, name: str, **attributes: str) -> tuple[str, dict[str, Any]]:
    return inv(t, "installed", name, attributes=attributes)


def server_with_gpus(rack: str, server: str, count: int) -> Events:
    events = [inv(0, "installed", server, parent_id=rack)]
    events += [
        inv(0, "installed", f"{server}-g{i}".replace("server:", "gpu:"), parent_id=server)
        for i in range(count)
    ]
    return events


def gpu(server: str, i: int) -> str:
    return f"{server}-g{i}".replace("server:", "gpu:")


# p1 (de, eu): r1 healthy, n1 with 4 GPUs (g0 allocated, g1 in fault -> 2 free);
#              r2 cooled by c1+c2, c1 in fault -> DEGRADED, its 2 GPUs are not free.
#              energy (0.5 + 0.6 + 1) / 3 = 0.7; model weights hot (tier 0); d1 held.
# p2 (us-va, us): r1 with n1 (4 GPUs free; a 5th GPU removed at 300) and n2 in fault
#              (2 GPUs not free); energy (1 + 0.3 [installed attribute] + 0.5) / 3 = 0.6.
# p3 (fr, eu): r1 with n1 (8 GPUs); at 500 rack p4-r2 (2 GPUs) moves in from p4;
#              no energy; model weights warm (tier 1); d2 held.
# p4 (de):     r1 with 1 GPU; r2 with 2 GPUs until it moves to p3 at 500.
# p5 (cn):     r1 with 1 GPU.
P1, P2, P3, P4, P5 = "site:p1", "site:p2", "site:p3", "site:p4", "site:p5"
P1N1, P1N2 = "server:p1-r1-n1", "server:p1-r2-n1"


def placement_events() -> Events:
    events = [
        site(0, P1, jurisdiction="de", region="eu"),
        site(0, P2, jurisdiction="us-va", region="us", battery_soc="0.3"),
        site(0, P3, jurisdiction="fr", region="eu"),
        site(0, P4, jurisdiction="de", region="eu"),
        site(0, P5, jurisdiction="cn", region="asia"),
        tel(100, "site_energy", P1, power_headroom_kw=500.0, battery_soc=0.6, solar_kw=1000.0),
        tel(100, "site_energy", P2, power_headroom_kw=2000.0, solar_kw=250.0),
    ]
    for rack, parent in (
        ("rack:p1-r1", P1),
        ("rack:p1-r2", P1),
        ("rack:p2-r1", P2),
        ("rack:p3-r1", P3),
        ("rack:p4-r1", P4),
        ("rack:p4-r2", P4),
        ("rack:p5-r1", P5),
    ):
        events.append(inv(0, "installed", rack, parent_id=parent))
    events += [
        inv(0, "installed", "cdu:p1-c1", parent_id=P1),
        inv(0, "installed", "cdu:p1-c2", parent_id=P1),
        inv(10, "linked", "rack:p1-r2", relation="cooled_by", target_id="cdu:p1-c1"),
        inv(10, "linked", "rack:p1-r2", relation="cooled_by", target_id="cdu:p1-c2"),
    ]
    events += server_with_gpus("rack:p1-r1", P1N1, 4)
    events += server_with_gpus("rack:p1-r2", P1N2, 2)
    events += server_with_gpus("rack:p2-r1", "server:p2-r1-n1", 5)
    events += server_with_gpus("rack:p2-r1", "server:p2-r1-n2", 2)
    events += server_with_gpus("rack:p3-r1", "server:p3-r1-n1", 8)
    events += server_with_gpus("rack:p4-r1", "server:p4-r1-n1", 1)
    events += server_with_gpus("rack:p4-r2", "server:p4-r2-n1", 2)
    events += server_with_gpus("rack:p5-r1", "server:p5-r1-n1", 1)
    events += [
        inv(300, "removed", gpu("server:p2-r1-n1", 4), parent_id="server:p2-r1-n1"),
        inv(500, "removed", "rack:p4-r2", parent_id=P4),
        inv(500, "installed", "rack:p4-r2", parent_id=P3),
        job(300, "started", "job:jp", placement=on(P1N1, gpu(P1N1, 0))),
        # a job that ended frees its GPU
        job(50, "started", "job:jq", placement=on(P1N1, gpu(P1N1, 2))),
        job(60, "finished", "job:jq", placement=on(P1N1, gpu(P1N1, 2))),
    ]
    events += fault(gpu(P1N1, 1), "G", 200)
    events += fault("cdu:p1-c1", "C", 200)
    events += fault("server:p2-r1-n2", "S", 200)
    # the model's weights: hot at p1 (tier 0), warm at p3 (tier 1), both at 900
    events += [
        art(800, "registered", "artifact:w1", artifact_kind="weights", model_id="model:m1"),
        art(800, "registered", "artifact:w2", artifact_kind="weights", model_id="model:m1"),
        art(900, "replicated", "artifact:w1", site_id=P1, tier=0),
        art(900, "replicated", "artifact:w2", site_id=P3, tier=1),
        # datasets: d1 held at p1 (and at p2 until 800), d2 at p3 (at p1 only from 1100)
        art(850, "replicated", "dataset:d1", site_id=P1, tier=1),
        art(700, "replicated", "dataset:d1", site_id=P2, tier=1),
        art(800, "evicted", "dataset:d1", site_id=P2),
        art(900, "replicated", "dataset:d2", site_id=P3, tier=1),
        art(1100, "replicated", "dataset:d2", site_id=P1, tier=1),
    ]
    return events


@pytest.fixture(scope="module")
def fleet() -> nx.MultiDiGraph:
    return build_graph(placement_events())


def parts(
    gpu: float, health: float, model: float, data: float, energy: float, region: float
) -> dict[str, float]:
    return {
        "gpu": gpu,
        "health": health,
        "model": model,
        "data": data,
        "energy": energy,
        "region": region,
    }


def check(answer: dict[str, Any], expected: list[tuple[str, float, int, dict[str, float]]]) -> None:
    got = answer["candidates"]
    assert [c["site"] for c in got] == [site for site, _, _, _ in expected]
    for candidate, (_, score, free, want) in zip(got, expected, strict=True):
        assert candidate["free_gpus"] == free
        assert candidate["parts"] == pytest.approx(want)
        assert candidate["score"] == pytest.approx(score)


def test_full_request(fleet: nx.MultiDiGraph) -> None:
    answer = placement(
        fleet,
        2,
        1000,
        model_id="model:m1",
        dataset_ids=["dataset:d1", "dataset:d2"],
        allowed_jurisdictions=["de", "fr", "us-va"],
        preferred_region="eu",
    )
    # p1: 0.35*0.5 + 0.15*0.5 + 0.25*1 + 0.15*0.5 + 0.10*0.7 + 0.05 = 0.695
    # p2: 0.35*1 + 0.15*1 + 0 + 0 + 0.10*0.6 + 0 = 0.56
    # p3: 0.35*1 + 0.15*1 + 0.25*0.5 + 0.15*0.5 + 0 + 0.05 = 0.75
    check(
        answer,
        [
            (P3, 0.75, 10, parts(1.0, 1.0, 0.5, 0.5, 0.0, 1.0)),
            (P1, 0.695, 2, parts(0.5, 0.5, 1.0, 0.5, 0.7, 1.0)),
            (P2, 0.56, 4, parts(1.0, 1.0, 0.0, 0.0, 0.6, 0.0)),
        ],
    )
    assert answer["excluded"] == [
        {"site": P4, "reasons": ["capacity"]},  # 1 free GPU: its second rack left
        {"site": P5, "reasons": ["capacity", "jurisdiction"]},
    ]


def test_before_the_rack_moved(fleet: nx.MultiDiGraph) -> None:
    answer = placement(fleet, 3, 400)
    # p2: 0.35*4/6 + 0.15 + 0.10*0.6 = 0.44333; p3: 0.35 + 0.15 = 0.5;
    # p4: 0.35*3/6 + 0.15 = 0.325 (both racks there at 400)
    check(
        answer,
        [
            (P3, 0.5, 8, parts(1.0, 1.0, 0.0, 0.0, 0.0, 0.0)),
            (P2, 0.35 * 4 / 6 + 0.15 + 0.06, 4, parts(4 / 6, 1.0, 0.0, 0.0, 0.6, 0.0)),
            (P4, 0.325, 3, parts(0.5, 1.0, 0.0, 0.0, 0.0, 0.0)),
        ],
    )
    assert answer["excluded"] == [
        {"site": P1, "reasons": ["capacity"]},
        {"site": P5, "reasons": ["capacity"]},
    ]


def test_jurisdiction_and_model_nowhere_hot(fleet: nx.MultiDiGraph) -> None:
    # model m2 has no replicas: model part 0; only de allowed
    answer = placement(fleet, 1, 1000, model_id="model:m2", allowed_jurisdictions=["de"])
    check(
        answer,
        [
            (P1, 0.35 + 0.075 + 0.07, 2, parts(1.0, 0.5, 0.0, 0.0, 0.7, 0.0)),
            (P4, 0.35 * 0.5 + 0.15, 1, parts(0.5, 1.0, 0.0, 0.0, 0.0, 0.0)),
        ],
    )
    assert answer["excluded"] == [
        {"site": P2, "reasons": ["jurisdiction"]},
        {"site": P3, "reasons": ["jurisdiction"]},
        {"site": P5, "reasons": ["jurisdiction"]},
    ]
    # an empty allowed list is given: nothing qualifies
    assert placement(fleet, 1, 1000, allowed_jurisdictions=[])["candidates"] == []


def test_hotness_is_taken_over_the_last_day(fleet: nx.MultiDiGraph) -> None:
    # a day and a half later the replicas are still open: p3's share stays 0.5
    at = 900 + 36 * 3600 * 1_000_000
    answer = placement(fleet, 1, at, model_id="model:m1")
    models = {c["site"]: c["parts"]["model"] for c in answer["candidates"]}
    assert models[P1] == pytest.approx(1.0) and models[P3] == pytest.approx(0.5)
    assert models[P2] == 0.0
    # evicted at p1 at 1000: 25 hours later only p3 is hot, and it is the best
    g = build_graph([*placement_events(), art(1000, "evicted", "artifact:w1", site_id=P1)])
    answer = placement(g, 1, 1000 + 25 * 3600 * 1_000_000, model_id="model:m1")
    models = {c["site"]: c["parts"]["model"] for c in answer["candidates"]}
    assert models == {P1: 0.0, P2: 0.0, P3: 1.0, P4: 0.0, P5: 0.0}


def test_ties_by_site_id() -> None:
    events = [site(0, "site:z"), site(0, "site:y")]
    for name in ("z", "y"):
        events.append(inv(0, "installed", f"rack:{name}-r1", parent_id=f"site:{name}"))
        events += server_with_gpus(f"rack:{name}-r1", f"server:{name}-n1", 2)
    answer = placement(build_graph(events), 2, 10)
    assert [c["site"] for c in answer["candidates"]] == ["site:y", "site:z"]
    assert answer["candidates"][0]["score"] == pytest.approx(0.35 * 0.5 + 0.15)
    with pytest.raises(ValueError):
        placement(build_graph(events), 0, 10)
