"""placement, lineage and dataResidency on the simulated fleet, through GraphQL,
against the networkx reference (tests/oracle) over the same events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from fleetgraph.bench.reference import audit as oracle_audit
from fleetgraph.bench.reference import graph as oracle_graph
from fleetgraph.bench.reference import scheduling as oracle_scheduling
from fleetgraph.serving.context import new_context
from fleetgraph.serving.schema import build_schema
from tests.e2e.fleet_run import END_US, FleetRun

H = 3_600_000_000
SCHEMA = build_schema()
PLACEMENT = """query($r: PlacementInput!) { placement(request: $r) {
  candidates { siteId score freeGpuCount parts { gpu health model data energy region } }
  excluded { siteId reasons { code } } } }"""
LINEAGE = """query($id: ID!, $dir: LineageDirection!, $depth: Int, $at: DateTime) {
  lineage(id: $id, direction: $dir, depth: $depth, at: $at) {
    truncated nodes { id distance } edges { type fromId toId } } }"""
RESIDENCY = """query($id: ID!, $allowed: [String!]!, $from: DateTime, $to: DateTime) {
  dataResidency(datasetId: $id, allowed: $allowed, from: $from, to: $to) {
  places { itemId siteId jurisdiction jobIds held }
  violations { itemId siteId jurisdiction jobIds held } } }"""


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat()


def ask(run: FleetRun, query: str, **variables: Any) -> dict[str, Any]:
    result = asyncio.run(SCHEMA.execute(query, variable_values=variables,
                                        context_value=new_context(run.store)))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


def of_type(graph: Any, node_type: str) -> list[str]:
    return sorted(n for n in graph.nodes if str(n).startswith(f"{node_type}:"))


def jurisdictions(graph: Any) -> list[str]:
    return sorted({d["jurisdiction"] for n, d in graph.nodes(data=True)
                   if str(n).startswith("site:") and d.get("jurisdiction")})


@pytest.mark.parametrize("gpus", [8, 64, 512])
def test_placement_matches_networkx(run: FleetRun, graph: Any, gpus: int) -> None:
    models = of_type(graph, "model")
    datasets = of_type(graph, "dataset")
    places = jurisdictions(graph)
    requests = [
        {"gpus": gpus},
        {"gpus": gpus, "modelId": models[0], "datasetIds": datasets[:2]},
        {"gpus": gpus, "modelId": models[-1], "allowedJurisdictions": places[:2],
         "preferredRegion": "west"},
    ]
    for hours in (2, 7):
        at = END_US - hours * H
        for request in requests:
            got = ask(run, PLACEMENT, r={**request, "at": iso(at)})["placement"]
            expected = oracle_scheduling.placement(
                graph, gpus, at, model_id=request.get("modelId"),
                dataset_ids=request.get("datasetIds", ()),
                allowed_jurisdictions=request.get("allowedJurisdictions"),
                preferred_region=request.get("preferredRegion"))
            assert [c["siteId"] for c in got["candidates"]] == [
                c["site"] for c in expected["candidates"]], request
            for mine, theirs in zip(got["candidates"], expected["candidates"], strict=True):
                assert mine["freeGpuCount"] == theirs["free_gpus"]
                assert mine["score"] == pytest.approx(theirs["score"], abs=1e-9)
                assert mine["parts"] == pytest.approx(theirs["parts"], abs=1e-9)
            assert [(e["siteId"], sorted(r["code"].lower() for r in e["reasons"]))
                    for e in got["excluded"]] == [
                (e["site"], e["reasons"]) for e in expected["excluded"]], request


@pytest.mark.parametrize(("direction", "depth"), [("UP", 2), ("UP", 5), ("DOWN", 3)])
def test_lineage_matches_networkx(run: FleetRun, graph: Any, direction: str,
                                  depth: int) -> None:
    starts = (of_type(graph, "artifact")[:15] + of_type(graph, "dataset")[:5]
              + of_type(graph, "model")[:5])
    reached = 0
    for start in starts:
        got = ask(run, LINEAGE, id=start, dir=direction, depth=depth)["lineage"]
        expected = oracle_audit.lineage(graph, start, direction, depth)
        assert got["truncated"] is False
        assert [(n["id"], n["distance"]) for n in got["nodes"]] == expected["nodes"], start
        assert sorted((e["type"], e["fromId"], e["toId"]) for e in got["edges"]) == (
            expected["edges"]), start
        reached += len(expected["nodes"]) > 1
    assert reached > 5


def test_data_residency_matches_networkx(run: FleetRun, graph: Any) -> None:
    allowed = jurisdictions(graph)[:2]
    violations = 0
    for dataset in of_type(graph, "dataset"):
        got = ask(run, RESIDENCY, id=dataset, allowed=allowed)["dataResidency"]
        expected = oracle_audit.data_residency(graph, dataset, allowed)
        for key in ("places", "violations"):
            assert [{"item": p["itemId"], "site": p["siteId"],
                     "jurisdiction": p["jurisdiction"], "jobs": sorted(p["jobIds"]),
                     "held": p["held"]} for p in got[key]] == expected[key], dataset
        violations += len(expected["violations"])
    assert violations > 0


@pytest.mark.parametrize(("direction", "hours_before_end"), [("UP", 6), ("DOWN", 9), ("DOWN", 3)])
def test_lineage_as_of_matches_networkx(run: FleetRun, direction: str,
                                        hours_before_end: int) -> None:
    """lineage(at:) equals the reference lineage over the events up to ``at`` only."""
    at = END_US - hours_before_end * H
    then = oracle_graph.graph_before(run.clean_events, at + 1)
    now = oracle_graph.build_graph(run.clean_events)
    starts = [n for n in of_type(then, "artifact")[:12] + of_type(then, "dataset")[:5]
              + of_type(then, "model")[:4]]
    grew = 0
    for start in starts:
        got = ask(run, LINEAGE, id=start, dir=direction, depth=4, at=iso(at))["lineage"]
        expected = oracle_audit.lineage(then, start, direction, 4)
        assert [(n["id"], n["distance"]) for n in got["nodes"]] == expected["nodes"], start
        assert sorted((e["type"], e["fromId"], e["toId"]) for e in got["edges"]) == (
            expected["edges"]), start
        grew += len(oracle_audit.lineage(now, start, direction, 4)["nodes"]) > len(
            expected["nodes"])
    if direction == "DOWN":  # what flowed from the data grew since: the filter is exercised
        assert grew > 0


def test_data_residency_in_a_window_matches_networkx(run: FleetRun) -> None:
    allowed = jurisdictions(oracle_graph.build_graph(run.clean_events))[:2]
    start, end = END_US - 8 * H, END_US - 4 * H
    before_end = oracle_graph.graph_before(run.clean_events, end)
    narrowed = 0
    for dataset in of_type(before_end, "dataset"):
        got = ask(run, RESIDENCY, id=dataset, allowed=allowed, **{
            "from": iso(start), "to": iso(end)})["dataResidency"]
        expected = oracle_audit.data_residency(before_end, dataset, allowed, (start, end))
        for key in ("places", "violations"):
            assert [{"item": p["itemId"], "site": p["siteId"],
                     "jurisdiction": p["jurisdiction"], "jobs": sorted(p["jobIds"]),
                     "held": p["held"]} for p in got[key]] == expected[key], dataset
        everything = ask(run, RESIDENCY, id=dataset, allowed=allowed)["dataResidency"]
        narrowed += len(everything["places"]) > len(got["places"])
    assert narrowed > 0
