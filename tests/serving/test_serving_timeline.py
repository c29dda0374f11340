"""componentTimeline on the small fleet (see conftest.py), answers worked out by hand."""

from __future__ import annotations

import pytest

from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries.timeline import TimelineItem, TimelineKind, component_timeline
from fleetgraph.storage.base import TimeWindow

CDU_FAULT = "fault:cdu:s1-c1@20261121T030000Z"  # on cdu:s1-c1 over [+3h, +5h)
SERVER_FAULT = "fault:server:s2-r1-n1@20261121T033000Z"  # [+3.5h, open)
K = TimelineKind


def test_cdu_timeline_in_order(fleet: CountingStore, timeline) -> None:
    t = timeline.us
    assert component_timeline(fleet, "cdu:s1-c1") == [
        TimelineItem(t(-10), K.LINKED, "rack:s1-r1", "cooled_by"),
        TimelineItem(t(-10), K.LINKED, "rack:s1-r2", "cooled_by"),
        TimelineItem(t(-10), K.LINKED, "site:s1", "in_site"),
        TimelineItem(t(2), K.UNLINKED, "rack:s1-r2", "cooled_by"),  # moved to c2
        TimelineItem(t(3), K.FAULT_OPENED, CDU_FAULT, "had_fault"),
        # the affectedJobs rows at their overlap start; j6 ran on two servers: one item
        TimelineItem(t(3), K.JOB_AFFECTED, "job:j1", "ran_on"),
        TimelineItem(t(3), K.JOB_AFFECTED, "job:j6", "ran_on"),
        TimelineItem(t(4), K.JOB_AFFECTED, "job:j2", "ran_on"),
        TimelineItem(t(5), K.FAULT_CLEARED, CDU_FAULT, "had_fault"),
    ]


def test_server_timeline_has_its_jobs_and_faults(fleet: CountingStore, timeline) -> None:
    t = timeline.us
    assert component_timeline(fleet, "server:s2-r1-n1") == [
        TimelineItem(t(-10), K.LINKED, "rack:s2-r1", "in_rack"),
        TimelineItem(t(3), K.JOB_STARTED, "job:j5", "ran_on"),
        TimelineItem(t(3.5), K.FAULT_OPENED, SERVER_FAULT, "had_fault"),  # never cleared
        TimelineItem(t(3.5), K.JOB_AFFECTED, "job:j5", "ran_on"),
        TimelineItem(t(4), K.JOB_ENDED, "job:j5", "ran_on"),
    ]


def test_bounds_outside_the_window_are_left_out(fleet: CountingStore, timeline) -> None:
    t = timeline.us
    window = TimeWindow(t(2), t(4))  # half-open: j1's end at +4h is out, j6's start at +2h in
    items = component_timeline(fleet, "server:s1-r1-n1", window)
    # a server's own faults make its JOB_AFFECTED rows; this one had none (the CDU had)
    assert [(i.time, i.kind, i.other_id) for i in items] == [
        (t(2), K.JOB_STARTED, "job:j6"),
        (t(3.5), K.JOB_ENDED, "job:j6"),
    ]
    # an edge ending exactly at 'from' does not overlap the window, but its end is in it
    items = component_timeline(fleet, "server:s1-r1-n1", TimeWindow(t(4), t(6)))
    assert [(i.time, i.kind, i.other_id) for i in items] == [(t(4), K.JOB_ENDED, "job:j1")]


def test_jobs_affected_before_the_window_are_not_shown_at_its_start(
    fleet: CountingStore, timeline
) -> None:
    t = timeline.us
    items = component_timeline(fleet, "cdu:s1-c1", TimeWindow(t(3.5), t(10)))
    # j1 and j6 were affected from +3h, before the window; j2 from +4h, in it
    assert [(i.time, i.kind, i.other_id) for i in items] == [
        (t(4), K.JOB_AFFECTED, "job:j2"),
        (t(5), K.FAULT_CLEARED, CDU_FAULT),
    ]


def test_rack_timeline_links_both_ways(fleet: CountingStore, timeline) -> None:
    t = timeline.us
    assert [(i.time, i.kind, i.other_id, i.edge_type) for i in component_timeline(
        fleet, "rack:s1-r2"
    )] == [
        (t(-10), K.LINKED, "cdu:s1-c1", "cooled_by"),
        (t(-10), K.LINKED, "server:s1-r2-n1", "in_rack"),
        (t(-10), K.LINKED, "site:s1", "in_site"),
        (t(2), K.LINKED, "cdu:s1-c2", "cooled_by"),
        (t(2), K.UNLINKED, "cdu:s1-c1", "cooled_by"),
    ]


def test_reads_are_a_fixed_number(big_fleet, timeline) -> None:
    for size in ((1, 1, 1), (12, 8, 3)):
        store = big_fleet(*size)
        items = component_timeline(store, "cdu:big-c1")
        assert sum(i.kind is K.JOB_AFFECTED for i in items) == size[0] * size[1] * size[2]
        assert [(m, d[0] if m == "neighbours" else None) for m, d in store.log] == [
            # affectedJobs
            ("get_nodes", None),
            ("neighbours", "had_fault"),
            ("neighbours", "cooled_by"),
            ("neighbours", "in_rack"),
            ("neighbours", "ran_on"),
            ("neighbours", "in_site"),
            # the component's own edges, one read each
            ("neighbours", "had_fault"),
            ("neighbours", "cooled_by"),
            ("neighbours", "in_site"),
        ]


def test_unknown_components_are_clear_errors(fleet: CountingStore) -> None:
    with pytest.raises(NotFound, match="cdu:nope"):
        component_timeline(fleet, "cdu:nope")
    with pytest.raises(InvalidArgument, match="not a fleetgraph id"):
        component_timeline(fleet, "nonsense")


def test_graphql_timeline(gql, timeline) -> None:
    data = gql(
        """query ($id: ID!, $from: DateTime, $to: DateTime) {
          componentTimeline(componentId: $id, from: $from, to: $to) {
            time kind otherId edgeType other { id type }
          }
        }""",
        {"id": "cdu:s1-c1", "from": timeline.iso(2), "to": timeline.iso(5)},
    )["componentTimeline"]
    assert data[0] == {
        "time": timeline.iso(2), "kind": "UNLINKED", "otherId": "rack:s1-r2",
        "edgeType": "cooled_by", "other": {"id": "rack:s1-r2", "type": "rack"},
    }
    assert [(d["kind"], d["otherId"]) for d in data[1:]] == [
        ("FAULT_OPENED", CDU_FAULT),
        ("JOB_AFFECTED", "job:j1"),
        ("JOB_AFFECTED", "job:j6"),
        ("JOB_AFFECTED", "job:j2"),
    ]  # the fault clears at +5h: outside [+2h, +5h)
    errors = gql.errors('{ componentTimeline(componentId: "rack:nope") { kind } }')
    assert errors == ["no component 'rack:nope' in the graph"]
