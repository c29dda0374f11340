"""Simulator -> stages -> embedded store -> GraphQL, checked against an
independent networkx computation (tests/oracle) over the same events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from fleetgraph.bench.reference import queries as oracle
from fleetgraph.serving.context import new_context
from fleetgraph.serving.schema import build_schema
from tests.e2e.fleet_run import END_US, FleetRun

H = 3_600_000_000
SCHEMA = build_schema()

AFFECTED = """
query($id: ID!, $from: DateTime, $to: DateTime) {
  affectedJobs(componentId: $id, from: $from, to: $to) {
    truncated
    items { jobId faultId serverId rackId siteId overlapFrom overlapTo job { id status } }
  }
}"""
HOTNESS = """
query($id: ID!, $from: DateTime, $to: DateTime) {
  modelHotness(modelId: $id, window: {from: $from, to: $to}) {
    siteId score replicas { artifactId tier lastAccess hits score }
  }
}"""


def iso(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat()


def us(text: str | None) -> int | None:
    if text is None:
        return None
    return round(datetime.fromisoformat(text).timestamp() * 1_000_000)


def ask(run: FleetRun, query: str, **variables: Any) -> dict[str, Any]:
    result = asyncio.run(SCHEMA.execute(
        query, variable_values=variables,
        context_value=new_context(run.store, clock=lambda: END_US),
    ))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


def faulted_components(run: FleetRun) -> list[str]:
    return sorted({
        e["component_id"] for topic, e in run.clean_events
        if topic == "telemetry" and e["kind"] == "status" and e.get("fault_id")
    })


def test_every_bad_message_is_dead_lettered_and_every_good_one_kept(run: FleetRun) -> None:
    by_source = {r["source"]: r for r in run.dead_letters.records}
    assert set(by_source) == set(run.defects)
    assert all(r["reason"] and r["detail"] for r in by_source.values())
    stats = run.report.stats
    assert stats.received == len(run.messages)
    assert stats.accepted + sum(stats.filtered.values()) + stats.dead_lettered == stats.received


@pytest.mark.parametrize("window_hours", [None, (2, 6), (8, 12)])
def test_affected_jobs_match_networkx(
    run: FleetRun, graph: Any, window_hours: tuple[int, int] | None
) -> None:
    start = END_US - 12 * H
    frm, to = (None, None) if window_hours is None else (
        start + window_hours[0] * H, start + window_hours[1] * H)
    components = faulted_components(run)
    assert any(c.startswith("cdu:") for c in components)
    answered = 0
    for component in components:
        got = ask(run, AFFECTED, id=component, **{"from": iso(frm), "to": iso(to)})
        result = got["affectedJobs"]
        assert result["truncated"] is False
        mine = [
            {"job": i["jobId"], "fault": i["faultId"], "server": i["serverId"],
             "rack": i["rackId"], "site": i["siteId"], "overlap_from": us(i["overlapFrom"]),
             "overlap_to": us(i["overlapTo"])}
            for i in result["items"]
        ]
        assert all(i["job"]["id"] == i["jobId"] for i in result["items"])
        expected = oracle.affected_jobs(graph, component, frm, to)
        assert mine == expected, component
        answered += len(mine)
    if window_hours is None:
        assert answered > 0


@pytest.mark.parametrize("hours", [24, 3])
def test_model_hotness_matches_networkx(run: FleetRun, graph: Any, hours: int) -> None:
    models = sorted(n for n in graph.nodes if str(n).startswith("model:"))
    assert models
    hot = 0
    for model in models:
        frm = END_US - hours * H
        got = ask(run, HOTNESS, id=model, **{"from": iso(frm), "to": iso(END_US)})
        expected = oracle.model_hotness(graph, model, frm, END_US)
        ranking = got["modelHotness"]
        assert [s["siteId"] for s in ranking] == [s["site"] for s in expected], model
        for site, want in zip(ranking, expected, strict=True):
            assert site["score"] == pytest.approx(want["score"], rel=1e-9, abs=1e-12)
            assert [(r["artifactId"], r["tier"], us(r["lastAccess"]), r["hits"])
                    for r in site["replicas"]] == [
                (r["artifact"], r["tier"], r["last_access"], r["hits"])
                for r in want["replicas"]]
        hot += bool(ranking)
    assert hot > 0
