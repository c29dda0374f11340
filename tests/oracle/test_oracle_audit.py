"""Hand-worked checks of lineage and dataResidency in the oracle."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from fleetgraph.bench.reference.audit import data_residency, job_sites, lineage
from fleetgraph.bench.reference.graph import build_graph

from .test_oracle import art, inv, job, on

Events = list[tuple[str, dict[str, Any]]]

# Sites de1 (de), us1 (us-va), sg1 (sg), fr1 (fr), one rack and server each.
# The rack of sg1 moves to de1 at 85, after job j2 started on its server (80).
#
#   dataset:ds-1 --read--> job:j1 (de1; model m-base, user u1, application a1)
#                --read--> job:j3 (never started: no site)
#   job:j1 --produced--> artifact:ckpt1 (checkpoint of model:m-ft; held at de1, and
#                        at us1 from 50 to 60)
#   artifact:a-dist --derived_from--> artifact:ckpt1 (weights of model:m-small)
#   artifact:ckpt1 --read--> job:j2 (sg1) --produced--> dataset:ds-2 (held at fr1)
#   artifact:w-base: weights of model:m-base
DS1, DS2 = "dataset:ds-1", "dataset:ds-2"
CKPT, DIST, WBASE = "artifact:ckpt1", "artifact:a-dist", "artifact:w-base"
MBASE, MFT, MSMALL = "model:m-base", "model:m-ft", "model:m-small"
J1, J2, J3 = "job:j1", "job:j2", "job:j3"
DE, US, SG, FR = "site:de1", "site:us1", "site:sg1", "site:fr1"


def audit_events() -> Events:
    events: Events = []
    for site, code in ((DE, "de"), (US, "us-va"), (SG, "sg"), (FR, "fr")):
        name = site.removeprefix("site:")
        events += [
            inv(0, "installed", site, attributes={"jurisdiction": code}),
            inv(0, "installed", f"rack:{name}-r1", parent_id=site),
            inv(0, "installed", f"server:{name}-n1", parent_id=f"rack:{name}-r1"),
        ]
    events += [
        inv(85, "removed", "rack:sg1-r1", parent_id=SG),
        inv(85, "installed", "rack:sg1-r1", parent_id=DE),
        art(0, "registered", DS1, attributes={"jurisdiction": "de"}),
        art(0, "registered", MBASE),
        art(0, "registered", WBASE, artifact_kind="weights", model_id=MBASE),
        job(
            10,
            "submitted",
            J1,
            user_id="user:u1",
            application_id="application:a1",
            model_id=MBASE,
            inputs=[DS1],
        ),
        job(20, "started", J1, placement=on("server:de1-n1")),
        job(30, "finished", J1, placement=on("server:de1-n1"), outputs=[CKPT]),
        art(30, "registered", CKPT, artifact_kind="checkpoint", model_id=MFT),
        art(40, "replicated", CKPT, site_id=DE, tier=0),
        art(50, "replicated", CKPT, site_id=US, tier=1),
        art(60, "evicted", CKPT, site_id=US),
        art(70, "registered", DIST, artifact_kind="weights", model_id=MSMALL, derived_from=[CKPT]),
        job(75, "submitted", J2, inputs=[CKPT]),
        job(80, "started", J2, placement=on("server:sg1-n1")),
        job(90, "finished", J2, placement=on("server:sg1-n1"), outputs=[DS2]),
        art(95, "replicated", DS2, site_id=FR, tier=2),
        job(100, "submitted", J3, inputs=[DS1]),
    ]
    return events


@pytest.fixture(scope="module")
def g() -> nx.MultiDiGraph:
    return build_graph(audit_events())


def test_job_sites(g: nx.MultiDiGraph) -> None:
    assert job_sites(g, J1) == [DE]
    assert job_sites(g, J2) == [SG]  # where its rack was when it started
    assert job_sites(g, J3) == []


def test_lineage_up(g: nx.MultiDiGraph) -> None:
    assert lineage(g, DIST, "UP") == {
        "nodes": [
            (DIST, 0),
            (CKPT, 1),
            (MSMALL, 1),
            (J1, 2),
            (MFT, 2),
            ("application:a1", 3),
            (DS1, 3),
            (MBASE, 3),
            (DE, 3),
            ("user:u1", 3),
            ("jurisdiction:de", 4),
        ],
        "edges": [
            ("artifact_of", DIST, MSMALL),
            ("artifact_of", CKPT, MFT),
            ("derived_from", DIST, CKPT),
            ("in_jurisdiction", DE, "jurisdiction:de"),
            ("launched_by", J1, "user:u1"),
            ("owned_by", J1, "application:a1"),
            ("produced", J1, CKPT),
            ("ran_at", J1, DE),
            ("read", J1, DS1),
            ("used_model", J1, MBASE),
        ],
    }


def test_lineage_up_depth_limits(g: nx.MultiDiGraph) -> None:
    assert lineage(g, DIST, "UP", depth=2) == {
        "nodes": [(DIST, 0), (CKPT, 1), (MSMALL, 1), (J1, 2), (MFT, 2)],
        "edges": [
            ("artifact_of", DIST, MSMALL),
            ("artifact_of", CKPT, MFT),
            ("derived_from", DIST, CKPT),
            ("produced", J1, CKPT),
        ],
    }
    assert lineage(g, J2, "UP", depth=1) == {
        "nodes": [(J2, 0), (CKPT, 1), (SG, 1)],
        "edges": [("ran_at", J2, SG), ("read", J2, CKPT)],
    }
    assert lineage(g, DIST, "UP", depth=0) == {"nodes": [(DIST, 0)], "edges": []}
    with pytest.raises(ValueError):
        lineage(g, DIST, "UP", depth=11)
    with pytest.raises(ValueError):
        lineage(g, DIST, "SIDEWAYS")


def test_lineage_down(g: nx.MultiDiGraph) -> None:
    assert lineage(g, DS1, "DOWN") == {
        "nodes": [(DS1, 0), (J1, 1), (J3, 1), (CKPT, 2), (DIST, 3), (J2, 3), (DS2, 4)],
        "edges": [
            ("derived_from", DIST, CKPT),
            ("produced", J1, CKPT),
            ("produced", J2, DS2),
            ("read", J1, DS1),
            ("read", J2, CKPT),
            ("read", J3, DS1),
        ],
    }
    assert lineage(g, DS1, "DOWN", depth=1) == {
        "nodes": [(DS1, 0), (J1, 1), (J3, 1)],
        "edges": [("read", J1, DS1), ("read", J3, DS1)],
    }
    # a model: the jobs that used it and its artifacts
    assert lineage(g, MBASE, "DOWN", depth=2) == {
        "nodes": [(MBASE, 0), (WBASE, 1), (J1, 1), (CKPT, 2)],
        "edges": [
            ("artifact_of", WBASE, MBASE),
            ("produced", J1, CKPT),
            ("used_model", J1, MBASE),
        ],
    }


def test_lineage_edges_to_nodes_already_reached() -> None:
    # j reads d1 and d2, d2 derived from d1: from d1 DOWN, j is reached at 1 (read)
    # and again from d2 at distance 1 -> the second read edge is walked too
    events = [
        art(0, "registered", "dataset:d2", derived_from=["dataset:d1"]),
        job(10, "submitted", "job:j", inputs=["dataset:d1", "dataset:d2"]),
    ]
    assert lineage(build_graph(events), "dataset:d1", "DOWN") == {
        "nodes": [("dataset:d1", 0), ("dataset:d2", 1), ("job:j", 1)],
        "edges": [
            ("derived_from", "dataset:d2", "dataset:d1"),
            ("read", "job:j", "dataset:d1"),
            ("read", "job:j", "dataset:d2"),
        ],
    }


def place(item: str, site: str, code: str, jobs: list[str], held: bool) -> dict[str, Any]:
    return {"item": item, "site": site, "jurisdiction": code, "jobs": jobs, "held": held}


def test_data_residency(g: nx.MultiDiGraph) -> None:
    answer = data_residency(g, DS1, ["de", "fr"])
    # items: ds-1, ckpt1 (j1 produced it), a-dist (derived from ckpt1), ds-2 (j2)
    # a-dist is neither read nor held anywhere; j3 never ran
    via_job = place(CKPT, SG, "sg", [J2], False)
    via_replica = place(CKPT, US, "us-va", [], True)
    assert answer == {
        "places": [
            place(CKPT, DE, "de", [], True),
            via_job,
            via_replica,
            place(DS1, DE, "de", [J1], False),
            place(DS2, FR, "fr", [], True),
        ],
        "violations": [via_job, via_replica],
    }
    assert data_residency(g, DS1, ["de", "fr", "sg", "us-va"])["violations"] == []
    assert data_residency(g, DS2, ["de"]) == {
        "places": [place(DS2, FR, "fr", [], True)],
        "violations": [place(DS2, FR, "fr", [], True)],
    }
    assert data_residency(g, "dataset:nowhere", ["de"]) == {"places": [], "violations": []}
