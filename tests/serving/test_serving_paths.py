"""path on the small fleet (see conftest.py) and on small graphs, worked out by hand."""

from __future__ import annotations

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries.paths import PathResult, shortest_path
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.serving.conftest import FleetWriter, GraphQLRunner

DEPENDENCIES = ["cooled_by", "in_rack", "ran_on"]


def test_a_path_through_a_shared_cdu(fleet: CountingStore) -> None:
    # j1 ran on s1-r1-n1 in rack s1-r1, which shares cdu:s1-c1 with rack s1-r2 (until
    # +2h, but path ignores time), where s1-r2-n1 ran j3: six hops
    answer = shortest_path(fleet, "job:j1", "job:j3", DEPENDENCIES)
    assert answer == PathResult(
        ["job:j1", "server:s1-r1-n1", "rack:s1-r1", "cdu:s1-c1", "rack:s1-r2",
         "server:s1-r2-n1", "job:j3"],
        [
            ("ran_on", "job:j1", "server:s1-r1-n1"),
            ("in_rack", "server:s1-r1-n1", "rack:s1-r1"),
            ("cooled_by", "rack:s1-r1", "cdu:s1-c1"),
            ("cooled_by", "rack:s1-r2", "cdu:s1-c1"),  # walked against its direction
            ("in_rack", "server:s1-r2-n1", "rack:s1-r2"),
            ("ran_on", "job:j3", "server:s1-r2-n1"),
        ],
        exhausted=False,
    )
    assert answer.records[3].props["valid_to"] is not None  # the edge itself, with its interval


def test_the_depth_bound_exhausts_the_search(fleet: CountingStore) -> None:
    assert shortest_path(fleet, "job:j1", "job:j3", DEPENDENCIES, max_depth=5) == PathResult(
        None, [], exhausted=True
    )


def test_no_path_is_not_exhausted(fleet: CountingStore) -> None:
    # site:s3 holds nothing: the walk runs out at once
    assert shortest_path(fleet, "site:s3", "rack:s1-r1", ["in_site"]) == PathResult(
        None, [], exhausted=False
    )
    # site:s2's part of the fleet is walked in full, well within the bound, without s1
    assert shortest_path(fleet, "job:j5", "job:j1", DEPENDENCIES, 12) == PathResult(
        None, [], exhausted=False
    )


def test_no_path_when_the_last_level_has_nowhere_to_go(fleet: CountingStore) -> None:
    # from job:j5: s2-r1-n1, rack:s2-r1, cdu:s2-c1, then nothing new (4 hops of the site)
    assert shortest_path(fleet, "job:j5", "job:j1", DEPENDENCIES, max_depth=3) == PathResult(
        None, [], exhausted=False
    )
    assert shortest_path(fleet, "job:j5", "job:j1", DEPENDENCIES, max_depth=2) == PathResult(
        None, [], exhausted=True
    )


def test_ties_go_to_the_smallest_id_at_each_hop_from_the_start() -> None:
    # a-b, a-c, c-d, b-e, d-t, e-t: both a,b,e,t and a,c,d,t are shortest; from the
    # start the smallest is b, though t is first reached from d in id order
    with SQLiteGraphStore(FLEET, ":memory:") as store:
        w = FleetWriter(store)
        names = "abcdet"
        for name in names:
            w.node(f"artifact:{name}", kind="checkpoint")
        for x, y in ("ab", "ac", "cd", "be", "dt", "et"):
            w.edge("derived_from", f"artifact:{y}", f"artifact:{x}")
        answer = shortest_path(store, "artifact:a", "artifact:t", ["derived_from"])
        assert answer.nodes == ["artifact:a", "artifact:b", "artifact:e", "artifact:t"]
        assert answer.edges[0] == ("derived_from", "artifact:b", "artifact:a")


def test_a_path_to_itself_and_a_tie_between_servers(fleet: CountingStore) -> None:
    for depth in (0, 6):
        assert shortest_path(fleet, "rack:s1-r1", "rack:s1-r1", ["in_rack"], depth) == (
            PathResult(["rack:s1-r1"], [], False)
        )
    # no hop allowed: cut at once when the start has a neighbour
    assert shortest_path(fleet, "rack:s1-r1", "server:s1-r1-n1", ["in_rack"], 0).exhausted
    # j6 ran on both servers of rack s1-r1
    assert shortest_path(fleet, "job:j6", "rack:s1-r1", DEPENDENCIES).nodes == [
        "job:j6", "server:s1-r1-n1", "rack:s1-r1",
    ]


def test_bad_arguments_are_clear_errors(fleet: CountingStore) -> None:
    with pytest.raises(InvalidArgument, match="unknown edge type"):
        shortest_path(fleet, "job:j1", "job:j3", ["cools"])
    with pytest.raises(InvalidArgument, match="between 0 and 12"):
        shortest_path(fleet, "job:j1", "job:j3", DEPENDENCIES, max_depth=13)
    with pytest.raises(InvalidArgument, match="at least one"):
        shortest_path(fleet, "job:j1", "job:j3", [])
    with pytest.raises(NotFound, match="job:nope"):
        shortest_path(fleet, "job:j1", "job:nope", DEPENDENCIES)


def test_one_read_per_level_edge_type_and_direction(big_fleet) -> None:
    # job -> server -> rack -> cdu -> rack -> server -> job in every size; each level
    # reads each (edge type, direction) its node types can have once, for all its nodes
    counts = []
    for racks, servers, jobs in ((2, 2, 2), (3, 2, 2), (12, 8, 3)):
        store = big_fleet(racks, servers, jobs)
        answer = shortest_path(
            store, "job:big-r00-n00-j0", "job:big-r01-n00-j0", DEPENDENCIES
        )
        assert answer.nodes == [
            "job:big-r00-n00-j0", "server:big-r00-n00", "rack:big-r00", "cdu:big-c1",
            "rack:big-r01", "server:big-r01-n00", "job:big-r01-n00-j0",
        ]
        counts.append(dict(store.calls))
    assert counts[0] == counts[1] == counts[2] == {"get_nodes": 1, "neighbours": 14}


def test_graphql_path(fleet: CountingStore) -> None:
    gql = GraphQLRunner(fleet)
    query = """query ($from: ID!, $to: ID!, $types: [String!]!, $depth: Int) {
      path(fromId: $from, toId: $to, edgeTypes: $types, maxDepth: $depth) {
        nodeIds length exhausted nodes { id type } edges { type fromId toId validTo }
      }
    }"""
    data = gql(query, {"from": "job:j6", "to": "rack:s1-r1", "types": DEPENDENCIES})["path"]
    assert data == {
        "nodeIds": ["job:j6", "server:s1-r1-n1", "rack:s1-r1"],
        "length": 2,
        "exhausted": False,
        "nodes": [{"id": "job:j6", "type": "job"}, {"id": "server:s1-r1-n1", "type": "server"},
                  {"id": "rack:s1-r1", "type": "rack"}],
        "edges": [
            {"type": "ran_on", "fromId": "job:j6", "toId": "server:s1-r1-n1",
             "validTo": "2026-11-21T03:30:00+00:00"},
            {"type": "in_rack", "fromId": "server:s1-r1-n1", "toId": "rack:s1-r1",
             "validTo": None},
        ],
    }
    data = gql(query, {"from": "job:j1", "to": "job:j3", "types": DEPENDENCIES, "depth": 5})
    assert data["path"] == {
        "nodeIds": None, "length": None, "exhausted": True, "nodes": None, "edges": [],
    }
    [message] = gql.errors(query, {"from": "job:j1", "to": "job:j3", "types": ["nope"]})
    assert message.startswith("unknown edge type(s) nope; known: ")
    [message] = gql.errors(query, {"from": "job:j1", "to": "job:j3", "types": ["ran_on"],
                                   "depth": 20})
    assert message == "'maxDepth' must be between 0 and 12, got 20"
