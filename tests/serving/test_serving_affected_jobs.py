"""affectedJobs on the small fleet (see conftest.py), answers worked out by hand."""

from __future__ import annotations

import pytest

from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries import AffectedJob, AffectedJobs, affected_jobs
from fleetgraph.storage.base import TimeWindow

CDU_FAULT = "fault:cdu:s1-c1@20261121T030000Z"  # on cdu:s1-c1 over [+3h, +5h)
SERVER_FAULT = "fault:server:s2-r1-n1@20261121T033000Z"  # [+3.5h, open)


def test_cdu_fault_reaches_the_jobs_on_racks_it_cooled(fleet: CountingStore, timeline) -> None:
    t = timeline.us
    answer = affected_jobs(fleet, "cdu:s1-c1", TimeWindow())
    # rack:s1-r1 is cooled by c1 all along; rack:s1-r2 moved to c2 at +2h, before
    # the fault (+3h), so job:j3 on it does not count; job:j4 started (+6h) after
    # the fault ended (+5h); job:j5 ran in another site.
    r1 = ("rack:s1-r1", "site:s1")
    assert answer == AffectedJobs(
        [
            AffectedJob("job:j1", CDU_FAULT, "server:s1-r1-n1", *r1, t(3), t(4)),
            AffectedJob("job:j6", CDU_FAULT, "server:s1-r1-n1", *r1, t(3), t(3.5)),
            AffectedJob("job:j6", CDU_FAULT, "server:s1-r1-n2", *r1, t(3), t(3.5)),
            AffectedJob("job:j2", CDU_FAULT, "server:s1-r1-n2", *r1, t(4), t(5)),
        ],
        truncated=False,
    )


def test_the_query_window_cuts_the_fault(fleet: CountingStore, timeline) -> None:
    t = timeline.us
    answer = affected_jobs(fleet, "cdu:s1-c1", TimeWindow(t(3.5), t(10)))
    # job:j6 ends at +3.5h: [+2h, +3.5h) does not overlap [+3.5h, ...)
    assert [(r.job_id, r.overlap_from, r.overlap_to) for r in answer.items] == [
        ("job:j1", t(3.5), t(4)),
        ("job:j2", t(4), t(5)),
    ]
    assert affected_jobs(fleet, "cdu:s1-c1", TimeWindow(t(5), t(10))).items == []
    assert affected_jobs(fleet, "cdu:s1-c1", TimeWindow(None, t(3))).items == []


def test_a_server_depends_on_itself(fleet: CountingStore, timeline) -> None:
    t = timeline.us
    answer = affected_jobs(fleet, "server:s2-r1-n1", TimeWindow())
    assert answer.items == [
        AffectedJob("job:j5", SERVER_FAULT, "server:s2-r1-n1", "rack:s2-r1", "site:s2",
                    t(3.5), t(4)),
    ]


def test_components_without_faults_affect_nothing(fleet: CountingStore) -> None:
    for component in ("power_shelf:s1-p1", "site:s1", "rack:s1-r2", "cdu:s1-c2"):
        assert affected_jobs(fleet, component, TimeWindow()) == AffectedJobs([], False)


def test_the_limit_cuts_the_answer_and_says_so(fleet: CountingStore) -> None:
    answer = affected_jobs(fleet, "cdu:s1-c1", TimeWindow(), limit=2)
    assert [r.job_id for r in answer.items] == ["job:j1", "job:j6"]
    assert answer.truncated
    assert not affected_jobs(fleet, "cdu:s1-c1", TimeWindow(), limit=4).truncated


def test_unknown_and_malformed_components_are_clear_errors(fleet: CountingStore) -> None:
    with pytest.raises(NotFound, match="cdu:nope"):
        affected_jobs(fleet, "cdu:nope", TimeWindow())
    with pytest.raises(InvalidArgument, match="not a fleetgraph id"):
        affected_jobs(fleet, "nonsense", TimeWindow())


def test_graphql_answer_with_nodes(gql, timeline) -> None:
    data = gql(
        """query ($id: ID!, $from: DateTime) {
          affectedJobs(componentId: $id, from: $from) {
            truncated
            items {
              jobId faultId serverId rackId siteId overlapFrom overlapTo
              job { id status } fault { code validFrom validTo component { id } }
              server { id gpuCount } rack { id } site { name }
            }
          }
        }""",
        {"id": "cdu:s1-c1", "from": timeline.iso(3.5)},
    )["affectedJobs"]
    assert data["truncated"] is False
    first, second = data["items"]
    assert first == {
        "jobId": "job:j1",
        "faultId": CDU_FAULT,
        "serverId": "server:s1-r1-n1",
        "rackId": "rack:s1-r1",
        "siteId": "site:s1",
        "overlapFrom": timeline.iso(3.5),
        "overlapTo": timeline.iso(4),
        "job": {"id": "job:j1", "status": "running"},
        "fault": {
            "code": "flow_low",
            "validFrom": timeline.iso(3),
            "validTo": timeline.iso(5),
            "component": {"id": "cdu:s1-c1"},
        },
        "server": {"id": "server:s1-r1-n1", "gpuCount": 4},
        "rack": {"id": "rack:s1-r1"},
        "site": {"name": "s1"},
    }
    assert (second["jobId"], second["overlapFrom"], second["overlapTo"]) == (
        "job:j2", timeline.iso(4), timeline.iso(5)
    )


def test_graphql_errors_are_clear(gql) -> None:
    query = "query ($id: ID!) { affectedJobs(componentId: $id) { truncated } }"
    assert gql.errors(query, {"id": "cdu:nope"}) == ["no component 'cdu:nope' in the graph"]
    [message] = gql.errors(
        'query { affectedJobs(componentId: "cdu:s1-c1", limit: 0) { truncated } }'
    )
    assert "'limit' must be between 1 and 10000" in message
    [message] = gql.errors(
        'query { affectedJobs(componentId: "cdu:s1-c1", from: "2026-11-22T00:00:00Z",'
        ' to: "2026-11-21T00:00:00Z") { truncated } }'
    )
    assert message == "'from' must not be after 'to'"
