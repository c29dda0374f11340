"""integrity: dangling references and impossible sequences, with the events behind them
(issue 8 item 9), through GraphQL, on each backend, checked against the oracle."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.queries.integrity import all_findings, integrity_page
from fleetgraph.serving.queries.integrity_rules import Finding, describe
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.e2e import integrity_fleet as fleet
from tests.e2e.fleet_run import ingest_into
from tests.oracle.integrity import integrity as oracle_integrity
from tests.serving.conftest import T0, FleetWriter, GraphQLRunner, H

REPORT = """
query Report($kinds: [IntegrityKind!], $first: Int!, $after: String) {
  integrity(kinds: $kinds, first: $first, after: $after) {
    endCursor hasNextPage scanned
    items {
      kind category subjectId detail
      subject { id ... on Job { status } }
      edges { type fromId toId validFrom validTo origin { createdBy latest { eventId } } }
      events { eventId eventTime source wrote }
    }
  }
}"""


def ingested(store: GraphStore, *parts: Iterable[fleet.Event]) -> GraphStore:
    events = [e for part in parts for e in part]
    dead_letters, _ = ingest_into(store, fleet.messages(events))
    assert not dead_letters.records, dead_letters.records
    return store


def keys(findings: Iterable[Finding]) -> set[tuple[str, str, str]]:
    return {(f.kind.value, f.subject_id, describe(f.records[0])) for f in findings}


def report(store: GraphStore, **variables: Any) -> dict[str, Any]:
    data = GraphQLRunner(store)(REPORT, {"first": 100, **variables})
    result: dict[str, Any] = data["integrity"]
    return result


def test_the_phantom_cdu_and_the_job_ended_before_it_started_are_listed_with_their_events(
    store: GraphStore,
) -> None:
    ingested(store, fleet.BASE, fleet.PHANTOM_LINK, fleet.BACKWARDS_JOB)
    answer = report(store)
    assert answer["hasNextPage"] is False and answer["endCursor"] is None
    job, phantom = answer["items"]  # scan order: jobs, then racks (whose edge names it)

    assert (phantom["kind"], phantom["category"], phantom["subjectId"]) == (
        "MISSING_NODE", "REFERENCE", fleet.PHANTOM)
    assert phantom["subject"] is None
    [link] = phantom["edges"]
    assert (link["type"], link["fromId"], link["toId"]) == ("cooled_by", fleet.RACK, fleet.PHANTOM)
    [event] = phantom["events"]
    assert (event["eventId"], event["source"]) == ("link-c9", "file:10")  # the 11th message

    assert (job["kind"], job["category"], job["subjectId"]) == (
        "ENDED_BEFORE_STARTED", "SEQUENCE", "job:j2")
    assert job["subject"]["status"] == "running"
    assert {(e["type"], e["validTo"]) for e in job["edges"]} == {
        ("ran_on", None), ("allocated", None)}  # open for good
    assert [e["eventId"] for e in job["events"]] == ["job-j2-sub", "job-j2-end", "job-j2-start"]
    latest = [e for e in job["events"] if e["source"] is not None]
    assert [(e["eventId"], e["source"]) for e in latest] == [("job-j2-start", "file:13")]


def test_a_clean_fleet_reports_nothing(store: GraphStore) -> None:
    ingested(store, fleet.BASE)
    assert report(store)["items"] == []
    assert oracle_integrity(fleet.BASE) == {}


def test_every_kind_agrees_with_the_oracle_on_the_same_events(store: GraphStore) -> None:
    parts = (fleet.BASE, fleet.PHANTOM_LINK, fleet.BACKWARDS_JOB, fleet.ODDITIES)
    ingested(store, *parts)
    expected = oracle_integrity([e for part in parts for e in part])
    findings = list(all_findings(store, FLEET))
    assert keys(findings) == set(expected)
    assert {k for k, *_ in expected} == {"MISSING_NODE", "NEVER_INSTALLED", "REOPENED",
                                         "ENDED_BEFORE_STARTED", "CLOSED_NEVER_OPENED"}
    for finding in findings:
        writers = expected[(finding.kind.value, finding.subject_id, describe(finding.records[0]))]
        given = [e.event_id for e in finding.events()]
        assert set(given) <= set(writers) and writers[0] in given, finding


def test_paging_gives_the_whole_report_once_whatever_the_page_and_budget(
    store: GraphStore,
) -> None:
    ingested(store, fleet.BASE, fleet.PHANTOM_LINK, fleet.BACKWARDS_JOB, fleet.ODDITIES)
    whole = [f.sort_key for f in all_findings(store, FLEET)]
    for first, page_size, budget in ((1, 500, 20_000), (2, 1, 1), (4, 2, 3)):
        pages, after = [], None
        while True:
            page = integrity_page(store, FLEET, first, after, page_size=page_size,
                                  max_scanned=budget)
            assert len(page.findings) <= first
            pages += [f.sort_key for f in page.findings]
            if page.next_cursor is None:
                break
            after = page.next_cursor
        assert pages == whole, (first, page_size, budget)


def test_kinds_narrow_the_report_and_the_scan(store: GraphStore) -> None:
    ingested(store, fleet.BASE, fleet.PHANTOM_LINK, fleet.BACKWARDS_JOB)
    answer = report(store, kinds=["ENDED_BEFORE_STARTED"])
    assert [i["subjectId"] for i in answer["items"]] == ["job:j2"]
    assert answer["scanned"] == 2  # the two jobs, nothing else
    assert [i["subjectId"] for i in report(store, kinds=["MISSING_NODE"])["items"]] == [
        fleet.PHANTOM]


@pytest.mark.parametrize(("variables", "message"), [
    ({"first": 0}, "'first' must be between 1 and 1000"),
    ({"after": "not-a-cursor"}, "is not an integrity cursor"),
])
def test_bad_arguments_are_refused(gql: GraphQLRunner, variables: dict[str, Any],
                                   message: str) -> None:
    [error] = gql.errors(REPORT, {"first": 10, **variables})
    assert message in error


def test_only_ops_may_read_the_report() -> None:
    access_of = pytest.importorskip("fleetgraph.serving.access").access_of
    assert access_of("ops").reads_root("integrity")
    assert not access_of("scheduler").reads_root("integrity")
    assert not access_of("auditor").reads_root("integrity")


def test_the_hand_built_serving_fleet_reports_only_its_jobs_never_submitted(
    gql: GraphQLRunner,
) -> None:
    """The small fleet of conftest writes jobs from their start on, without a submitted
    event: that is all the report finds in it."""
    items = gql(REPORT, {"first": 100})["integrity"]["items"]
    assert {(i["kind"], i["subjectId"]) for i in items} == {
        ("NEVER_INSTALLED", f"job:j{n}") for n in range(1, 7)}


def test_an_interval_ending_before_it_starts_is_reported() -> None:
    """No event order makes one (an open clears validTo), but a writer can: direct upserts."""
    store = SQLiteGraphStore(FLEET, ":memory:")
    writer = FleetWriter(store)
    fault = "fault:cdu:s1-c1@20261121T050000Z"
    writer.node("cdu:s1-c1", status="ok", capacity_kw=500.0)
    writer.edge("in_site", "cdu:s1-c1", "site:s1", T0)
    writer.node("site:s1", name="one")
    writer.node(fault, T0 + 5 * H, component_id="cdu:s1-c1", valid_from=T0 + 5 * H,
                valid_to=T0 + 4 * H)
    [finding] = all_findings(store, FLEET)
    assert (finding.kind.value, finding.subject_id) == ("INTERVAL_REVERSED", fault)
    assert finding.detail.endswith("ends at 2026-11-21T04:00:00+00:00, before it starts at "
                                   "2026-11-21T05:00:00+00:00")
