"""blastRadius, componentTimeline and path on the simulated fleet, through GraphQL,
against the networkx reference (tests/oracle) over the same events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from fleetgraph.bench.reference import graph as oracle_graph
from fleetgraph.bench.reference import incidents as oracle
from fleetgraph.serving.context import new_context
from fleetgraph.serving.schema import build_schema
from tests.e2e.fleet_run import END_US, FleetRun

H = 3_600_000_000
SCHEMA = build_schema()
BLAST = """query($id: ID!, $at: DateTime) { blastRadius(componentId: $id, at: $at) {
  truncated alreadyInFault items { id impact dependency path } jobs { jobId serverId impact } } }"""
TIMELINE = """query($id: ID!, $from: DateTime, $to: DateTime) {
  componentTimeline(componentId: $id, from: $from, to: $to) { time kind otherId edgeType } }"""
PATH = """query($a: ID!, $b: ID!, $types: [String!]!, $depth: Int, $at: DateTime) {
  path(fromId: $a, toId: $b, edgeTypes: $types, maxDepth: $depth, at: $at) {
    nodeIds exhausted } }"""


def iso(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat()


def us(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1_000_000)


def ask(run: FleetRun, query: str, **variables: Any) -> dict[str, Any]:
    result = asyncio.run(SCHEMA.execute(query, variable_values=variables,
                                        context_value=new_context(run.store)))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


def components(graph: Any, kinds: tuple[str, ...], sites: int = 4) -> list[str]:
    """Components of the first few sites, plus every faulted one."""
    chosen = sorted(f"site:s{i:04d}" for i in range(sites))
    ids = [n for n in graph.nodes if str(n).split(":")[0] in kinds
           and any(str(n).startswith(f"{kind}:{site[5:]}") for kind in kinds
                   for site in chosen)]
    faulted = [s for s, _, k in graph.edges(keys=True) if k == "had_fault"]
    return sorted(set(ids) | {f for f in faulted if f.split(":")[0] in kinds})


@pytest.mark.parametrize("hours_before_end", [1, 5, 9])
def test_blast_radius_matches_networkx(run: FleetRun, graph: Any, hours_before_end: int) -> None:
    at = END_US - hours_before_end * H
    checked = impacted = 0
    for component in components(graph, ("cdu", "power_shelf", "switch", "rack", "site")):
        got = ask(run, BLAST, id=component, at=iso(at))["blastRadius"]
        expected = oracle.blast_radius(graph, component, at)
        assert got["truncated"] is False
        assert got["alreadyInFault"] == expected["already_in_fault"], component
        assert [{"id": i["id"], "impact": i["impact"], "dependency": i["dependency"],
                 "path": i["path"]} for i in got["items"]] == expected["items"], component
        assert [{"job": j["jobId"], "server": j["serverId"], "impact": j["impact"]}
                for j in got["jobs"]] == expected["jobs"], component
        checked += 1
        impacted += bool(expected["items"])
    assert checked > 20 and impacted > 10


def test_timelines_match_networkx(run: FleetRun, graph: Any) -> None:
    frm, to = END_US - 8 * H, END_US - 2 * H
    for component in components(graph, ("cdu", "power_shelf", "server"), sites=2):
        for window in ((None, None), (frm, to)):
            got = ask(run, TIMELINE, id=component, **{"from": iso(window[0]),
                                                      "to": iso(window[1])})
            mine = [{"time": us(i["time"]), "kind": i["kind"], "other": i["otherId"],
                     "edge_type": i["edgeType"]} for i in got["componentTimeline"]]
            assert mine == oracle.component_timeline(graph, component, *window), component


def test_paths_match_networkx(run: FleetRun, graph: Any) -> None:
    racks = sorted(n for n in graph.nodes if str(n).startswith("rack:"))[:6]
    jobs = sorted(s for s, _, k in graph.edges(keys=True) if k == "ran_on")[:6]
    types = ["ran_on", "in_rack", "cooled_by", "in_site"]
    found = 0
    for start in jobs:
        for end in racks:
            for depth in (2, 4):
                got = ask(run, PATH, a=start, b=end, types=types, depth=depth)["path"]
                expected = oracle.shortest_path(graph, start, end, types, depth)
                assert got["nodeIds"] == expected["nodes"], (start, end, depth)
                assert got["exhausted"] == expected["exhausted"], (start, end, depth)
                found += expected["nodes"] is not None
    assert found > 0


@pytest.mark.parametrize("hours_before_end", [3, 8])
def test_paths_as_of_match_networkx(run: FleetRun, hours_before_end: int) -> None:
    """path(at:) equals the reference path over the graph as it stood at ``at``."""
    at = END_US - hours_before_end * H
    then = oracle_graph.graph_as_of(run.clean_events, at)
    racks = sorted(n for n in then.nodes if str(n).startswith("rack:"))
    running = sorted({s for s, _, k in then.edges(keys=True) if k == "ran_on"})[:3]
    types = ["ran_on", "in_rack", "cooled_by", "in_site"]
    found = 0
    for start in running:
        for end in racks:
            got = ask(run, PATH, a=start, b=end, types=types, depth=4, at=iso(at))["path"]
            expected = oracle.shortest_path(then, start, end, types, 4)
            assert got["nodeIds"] == expected["nodes"], (start, end)
            assert got["exhausted"] == expected["exhausted"], (start, end)
            found += expected["nodes"] is not None
    assert found > 0
