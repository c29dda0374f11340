"""Audit bundles on a simulated fleet ingested from an event log, on each backend: the
answer against the networkx reference over the same events (tests/oracle/audit.py),
export then verify, a changed edge, an edited file, and the source events in the log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.bench.reference import audit as oracle_audit
from fleetgraph.bench.reference import graph as oracle_graph
from fleetgraph.cli.audit_sources import EventLogArchive
from fleetgraph.graph_model.records import EdgeUpsert, Provenance
from fleetgraph.ingest.sources.eventlog import read_event_log, write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.serving.context import new_context
from fleetgraph.serving.queries.audit_answer import AuditQuestion
from fleetgraph.serving.queries.audit_bundle import (
    BundleTooLarge,
    canonical,
    digest_of,
    export_bundle,
)
from fleetgraph.serving.queries.audit_verify import verify_bundle
from fleetgraph.serving.schema import build_schema
from fleetgraph.serving.times import now_us, to_datetime
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.base import GraphStore
from tests.conftest import CassandraGraphs
from tests.e2e.fleet_run import ingest_into, open_store

H = 3_600_000_000
# the fleet ends now (to the minute): Cassandra expires replicas by its own clock
END_US = now_us() // 60_000_000 * 60_000_000
CONFIG = SimulationConfig(seed=5, sites=4, hours=6.0, end_time_us=END_US, malformed_rate=0.0)
LOG = "fleet.avro"
SCHEMA = build_schema()
START, END = END_US - 4 * H, END_US - H


@dataclass
class AuditFleet:
    store: GraphStore
    log: Path
    events: list[tuple[str, dict[str, Any]]]
    now: Any  # the reference graph of every event

    def bundle(self, subject: str, start: int | None = START, end: int | None = END,
               allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Exported, written and read back, as a file would be."""
        bundle = export_bundle(self.store, AuditQuestion(subject, start, end, allowed),
                               asked_at=END_US, store_label="test")
        return dict(json.loads(canonical(bundle)))


@pytest.fixture(scope="module",
                params=["embedded", pytest.param("cassandra", marks=pytest.mark.integration)])
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          cassandra_graphs: CassandraGraphs) -> Iterator[AuditFleet]:
    folder = tmp_path_factory.mktemp("audit")
    codec = load_event_codec()
    log = folder / LOG
    write_event_log(log, ((str(t), p) for t, p, _ in simulate_messages(CONFIG, codec)))
    store: GraphStore = (open_store(folder / "graph.sqlite", END_US)
                         if request.param == "embedded" else cassandra_graphs.store())
    _, report = ingest_into(store, read_event_log(log), END_US)
    assert report.stats.dead_lettered == 0
    events = [(m.topic, codec.decode(m.payload)[1]) for m in read_event_log(log)]
    yield AuditFleet(store, log, events, oracle_graph.build_graph(events))
    if request.param == "embedded":
        store.close()
    else:
        cassandra_graphs.release(store)


def of_type(graph: Any, node_type: str) -> list[str]:
    return sorted(n for n in graph.nodes if str(n).startswith(f"{node_type}:"))


def ran_within(graph: Any, job: str, start: int, end: int) -> list[tuple[str, Any, Any]]:
    """The job's ran_on edges overlapping [start, end) in the reference graph."""
    return sorted((server, d.get("valid_from"), d.get("valid_to"))
                  for _, server, key, d in graph.out_edges(job, keys=True, data=True)
                  if key == "ran_on" and oracle_audit._overlaps(d, (start, end)))


def test_a_dataset_bundle_answers_as_the_events_do(fleet: AuditFleet) -> None:
    now = fleet.now
    before_end = oracle_graph.graph_before(fleet.events, END)
    allowed = tuple(sorted({d["jurisdiction"] for n, d in now.nodes(data=True)
                            if str(n).startswith("site:")})[:1])
    checked = 0
    for dataset in of_type(before_end, "dataset"):
        answer = fleet.bundle(dataset, allowed=allowed)["answer"]
        expected = oracle_audit.data_residency(before_end, dataset, allowed, (START, END))
        for key in ("places", "violations"):
            assert [{k: p[k] for k in ("item", "site", "jurisdiction", "jobs", "held")}
                    for p in answer["residency"][key]] == expected[key], dataset
        jobs: set[str] = {j for p in expected["places"] for j in p["jobs"]}
        for way in ("up", "down"):
            walked = oracle_audit.lineage(before_end, dataset, way.upper(), 4)
            got = answer["lineage"][way]
            assert [(n["id"], n["distance"]) for n in got["nodes"]] == walked["nodes"]
            assert sorted((e["type"], e["from"], e["to"]) for e in got["edges"]) == (
                walked["edges"])
            jobs |= {n for n, _ in walked["nodes"] if n.startswith("job:")}
        assert [j["job"] for j in answer["jobs"]] == sorted(jobs)
        for job in answer["jobs"]:
            assert job["sites"] == oracle_audit.job_sites(now, job["job"])
            assert sorted((r["server"], r["valid_from"], r["valid_to"]) for r in job["runs"]) == (
                ran_within(now, job["job"], START, END))
        sites = {p["site"] for p in expected["places"]} | {
            s for j in jobs for s in oracle_audit.job_sites(now, j)}
        assert answer["jurisdictions"] == sorted(
            {c for s in sites if (c := oracle_audit.jurisdiction_of(now, s))})
        checked += bool(answer["residency"]["places"]) and bool(answer["jobs"])
    assert checked >= 2


def test_a_site_bundle_lists_the_jobs_that_ran_there_and_what_it_held(
        fleet: AuditFleet) -> None:
    now = fleet.now
    for site in of_type(now, "site"):
        answer = fleet.bundle(site)["answer"]
        ran_there = {j for j in of_type(now, "job") if site in oracle_audit.job_sites(now, j)
                     and ran_within(now, j, START, END)}
        held = {item for item, _, key, d in now.in_edges(site, keys=True, data=True)
                if key == "cached_at" and oracle_audit._overlaps(d, (START, END))}
        assert {j["job"] for j in answer["jobs"]} == ran_there, site
        assert {p["item"] for p in answer["residency"]["places"] if p["held"]} == held, site
        assert answer["jurisdictions"] == [now.nodes[site]["jurisdiction"]]
        assert answer["lineage"] is None


@pytest.mark.parametrize("subject_type", ["dataset", "model", "job", "site"])
def test_export_then_verify_round_trips(fleet: AuditFleet, subject_type: str) -> None:
    now = fleet.now
    subject = of_type(now, subject_type)[1]
    bundle = fleet.bundle(subject, start=None, end=None)
    assert bundle["digest"] == digest_of(bundle)
    assert bundle["question"]["subject"] == subject
    edges = bundle["records"]["edges"]
    assert edges and all(e["origin"]["latest"]["source"].startswith(f"{LOG}:") for e in edges)
    result = verify_bundle(fleet.store, bundle, EventLogArchive([fleet.log]))
    assert result.mismatches == []
    assert result.ok and result.edges == len(edges)
    assert result.events_checked == len(edges) + len(bundle["records"]["nodes"])
    assert result.events_unchecked == 0


def test_changing_one_stored_edge_makes_verify_fail_and_name_it(fleet: AuditFleet) -> None:
    dataset = of_type(fleet.now, "dataset")[0]
    bundle = fleet.bundle(dataset)
    read = next(e for e in bundle["records"]["edges"] if e["type"] == "read")
    later = END_US + H
    fleet.store.upsert_edges([EdgeUpsert(
        "read", read["from"], read["to"], {"at": read["props"]["at"] + 1}, later,
        Provenance("audit-test-1", "test/0/1", later, "audit-test"))])
    result = verify_bundle(fleet.store, bundle)
    assert not result.ok and result.digest_ok
    named = f"edge read {read['from']} -> {read['to']}"
    assert {m.subject for m in result.mismatches} == {named}
    details = [m.detail for m in result.mismatches]
    assert f"property at was {read['props']['at']}, the store has {read['props']['at'] + 1}" in (
        details)
    assert 'provenance latest.event_id was "' + read["origin"]["latest"]["event_id"] + (
        '", the store has "audit-test-1"') in details


def test_an_edited_file_fails_its_digest(fleet: AuditFleet) -> None:
    dataset = of_type(fleet.now, "dataset")[2]
    bundle = fleet.bundle(dataset)
    bundle["answer"]["jurisdictions"] = ["nowhere"]
    result = verify_bundle(fleet.store, bundle)
    assert not result.digest_ok and not result.ok
    assert [m.subject for m in result.mismatches] == ["digest"] + ["answer.jurisdictions"] * 2
    assert "changed after export" in result.mismatches[0].detail
    assert result.mismatches[1].detail == '1 no longer in the answer, e.g. "nowhere"'


def test_source_events_are_read_back_from_the_log(fleet: AuditFleet, tmp_path: Path) -> None:
    dataset = of_type(fleet.now, "dataset")[1]
    bundle = fleet.bundle(dataset)
    messages = [(m.topic, m.payload) for m in read_event_log(fleet.log)]
    shifted = tmp_path / "shifted" / LOG  # the same file name, every message one later
    write_event_log(shifted, messages[-1:] + messages[:-1])
    result = verify_bundle(fleet.store, bundle, EventLogArchive([shifted]))
    records = len(bundle["records"]["edges"]) + len(bundle["records"]["nodes"])
    assert result.events_checked == records and len(result.mismatches) == records
    edge = bundle["records"]["edges"][0]
    where = edge["origin"]["latest"]["source"]
    assert any(m.subject == f"edge {edge['type']} {edge['from']} -> {edge['to']}"
               and m.detail.startswith(f"the source event at {where} is ")
               for m in result.mismatches)
    cut = tmp_path / "cut" / LOG  # the archive lost the end of the log
    write_event_log(cut, messages[:10])
    result = verify_bundle(fleet.store, bundle, EventLogArchive([cut]))
    assert result.mismatches and all("no source event at" in m.detail
                                     for m in result.mismatches)
    elsewhere = verify_bundle(fleet.store, bundle, EventLogArchive([tmp_path / "other.avro"]))
    assert elsewhere.ok and elsewhere.events_unchecked == records


def test_a_bundle_past_its_edge_cap_is_refused(fleet: AuditFleet) -> None:
    site = of_type(fleet.now, "site")[0]
    with pytest.raises(BundleTooLarge, match="more than a bundle carries"):
        export_bundle(fleet.store, AuditQuestion(site), asked_at=END_US, store_label="test",
                      max_edges=5)


QUERY = """query($s: ID!, $from: DateTime, $to: DateTime) {
  auditBundle(subject: $s, from: $from, to: $to) { digest edgeCount bundle } }"""


def test_the_auditor_asks_for_a_bundle_in_graphql(fleet: AuditFleet) -> None:
    dataset = of_type(fleet.now, "dataset")[0]
    start = to_datetime(END_US - 5 * H)
    assert start is not None
    variables = {"s": dataset, "from": start.isoformat(), "to": None}

    def ask(role: str) -> Any:
        context = new_context(fleet.store, clock=lambda: END_US, role=role)
        return asyncio.run(SCHEMA.execute(QUERY, variable_values=variables,
                                          context_value=context))

    result = ask("auditor")
    assert result.errors is None and result.data is not None
    served = result.data["auditBundle"]
    assert served["digest"] == served["bundle"]["digest"] == digest_of(served["bundle"])
    assert served["edgeCount"] == len(served["bundle"]["records"]["edges"]) > 0
    assert served["bundle"]["question"]["from_us"] == END_US - 5 * H
    assert verify_bundle(fleet.store, served["bundle"]).ok
    refused = ask("scheduler")
    assert refused.errors and "may not read auditBundle" in refused.errors[0].message
