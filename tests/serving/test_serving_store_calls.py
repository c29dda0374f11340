"""What a query costs in store calls: one batched read per hop, whatever the fan-out.

NetBox's move to Strawberry once turned one query into 87k database queries;
these tests keep fleetgraph's GraphQL layer from doing the same.
"""

from __future__ import annotations

import pytest

from fleetgraph.serving.queries import affected_jobs
from fleetgraph.storage.base import TimeWindow

SIZES = [(1, 1, 1), (3, 2, 2), (12, 8, 3)]  # racks, servers a rack, jobs a server

SITE_TREE = """{ node(id: "site:big") { ... on Site {
    racks { id status servers { id status jobs { id status } } }
} } }"""


def reads(store) -> list[tuple[str, object]]:
    """(method, edge type) of every read, in order."""
    return [(m, d[0] if m in ("neighbours", "neighbour_ids") else None) for m, d in store.log]


@pytest.mark.parametrize(("racks", "servers", "jobs"), SIZES)
def test_site_racks_servers_jobs_is_one_read_per_hop(
    big_fleet, gql_on, racks: int, servers: int, jobs: int
) -> None:
    store = big_fleet(racks, servers, jobs)
    data = gql_on(store)(SITE_TREE)["node"]
    assert len(data["racks"]) == racks
    assert sum(len(s["jobs"]) for r in data["racks"] for s in r["servers"]) == (
        racks * servers * jobs
    )
    assert reads(store) == [
        ("get_nodes", None),  # the site
        ("neighbours", "in_site"),
        ("get_nodes", None),  # all racks
        ("neighbours", "in_rack"),
        ("get_nodes", None),  # all servers
        ("neighbours", "ran_on"),
        ("get_nodes", None),  # all jobs
    ]
    in_rack = store.log[3][1]
    assert in_rack[2] == racks  # ids asked for in the one in_rack call


@pytest.mark.parametrize(("racks", "servers", "jobs"), SIZES)
def test_a_page_of_nodes_expanded_costs_one_read_per_hop(
    big_fleet, gql_on, racks: int, servers: int, jobs: int
) -> None:
    store = big_fleet(racks, servers, jobs)
    gql_on(store)(
        """{ nodes(type: "rack", first: 100) { items { ... on Rack {
              site { id } cdus { id faults { id } } servers { id jobs { id } }
        } } } }"""
    )
    # The scan primes the racks. Then one neighbours read per relationship field
    # (in_site, cooled_by, in_rack, then had_fault, ran_on), each followed by one
    # get_nodes for its far ends, unless those of fields whose reads end in the
    # same event-loop turn share one: between 2 and 5, never more.
    assert store.calls["scan_nodes"] == 1
    assert store.calls["neighbours"] == 5
    assert 2 <= store.calls["get_nodes"] <= 5
    assert set(store.calls) == {"scan_nodes", "neighbours", "get_nodes"}


@pytest.mark.parametrize(("racks", "servers", "jobs"), SIZES)
def test_affected_jobs_costs_a_fixed_number_of_reads(
    big_fleet, gql_on, racks: int, servers: int, jobs: int
) -> None:
    store = big_fleet(racks, servers, jobs)
    answer = affected_jobs(store, "cdu:big-c1", TimeWindow())
    assert len(answer.items) == racks * servers * jobs
    assert reads(store) == [
        ("get_nodes", None),  # the component
        ("neighbours", "had_fault"),
        ("neighbours", "cooled_by"),
        ("neighbours", "in_rack"),
        ("neighbours", "ran_on"),
        ("neighbours", "in_site"),
    ]
    store.reset()
    data = gql_on(store)(
        """{ affectedJobs(componentId: "cdu:big-c1") { items {
              job { id } fault { id } server { id } rack { id } site { id } } } }"""
    )
    assert len(data["affectedJobs"]["items"]) == racks * servers * jobs
    # the same reads, plus one get_nodes for every job, fault, server, rack and site
    assert store.calls == {"get_nodes": 2, "neighbours": 5}


def test_each_hop_asks_the_store_for_the_narrowest_window(big_fleet, timeline) -> None:
    store = big_fleet(2, 2, 1)
    affected_jobs(store, "cdu:big-c1", TimeWindow(None, timeline.us(10)))
    windows = {d[0]: d[3] for m, d in store.log if m == "neighbours"}
    fault = TimeWindow(timeline.us(2), timeline.us(3))  # the fault, cut to the query
    assert windows == {
        "had_fault": TimeWindow(None, timeline.us(10)),
        "cooled_by": fault,
        "in_rack": fault,
        "ran_on": fault,
        "in_site": None,  # the rack's site is chosen among all its in_site edges
    }


def test_model_hotness_costs_four_reads_without_its_rows(fleet, timeline) -> None:
    from fleetgraph.serving.queries import model_hotness

    model_hotness(fleet, "model:m1", TimeWindow(timeline.us(0), timeline.us(24)))
    assert reads(fleet) == [
        ("get_read_models", None),  # the model's ranking row (none here)
        ("get_nodes", None),
        ("neighbour_ids", "artifact_of"),
        ("get_read_models", None),  # the artifacts' replicas rows (none here)
        ("neighbours", "cached_at"),
    ]
