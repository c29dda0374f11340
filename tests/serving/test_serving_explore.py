"""The ops explorer: bounded traversal and property search."""

from __future__ import annotations

from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries.traverse import Step, search_nodes, traverse
from fleetgraph.serving.times import to_datetime
from fleetgraph.storage.base import Direction
from fleetgraph.storage.embedded import SQLiteGraphStore

TRAVERSE = """
query($start: ID!, $at: DateTime, $first: Int!, $after: String) {
  traverse(start: $start, first: $first, after: $after, steps: [
    {edgeType: "in_site", direction: IN},
    {edgeType: "in_rack", direction: IN},
    {edgeType: "ran_on", direction: IN, at: $at}
  ]) { items { id } endCursor hasNextPage total frontierSizes truncated truncatedAtStep }
}"""


def test_traversal_follows_steps_and_intersects_time(gql: Any, timeline: Any) -> None:
    at = to_datetime(timeline.us(3)).isoformat()  # type: ignore[union-attr]
    data = gql(TRAVERSE, {"start": "site:s1", "at": at, "first": 50})["traverse"]
    assert [i["id"] for i in data["items"]] == ["job:j1", "job:j3", "job:j6"]
    assert data["truncated"] is False and data["truncatedAtStep"] is None
    everything = gql(TRAVERSE, {"start": "site:s1", "at": None, "first": 2})["traverse"]
    assert [i["id"] for i in everything["items"]] == ["job:j1", "job:j2"]
    assert everything["hasNextPage"] is True and everything["total"] == 5
    rest = gql(TRAVERSE, {"start": "site:s1", "at": None, "first": 50,
                          "after": everything["endCursor"]})["traverse"]
    assert [i["id"] for i in rest["items"]] == ["job:j3", "job:j4", "job:j6"]


def test_a_cut_frontier_is_reported(fleet: CountingStore) -> None:
    steps = [Step("in_site", Direction.IN), Step("in_rack", Direction.IN)]
    whole = traverse(fleet, "site:s1", steps)
    cut = traverse(fleet, "site:s1", steps, max_frontier=2)
    assert len(whole.ids) == 3 and not whole.truncated
    assert cut.truncated and cut.truncated_at_step == 1
    assert cut.frontier_sizes[0] > 2


def test_each_step_is_one_batched_read(fleet: CountingStore) -> None:
    steps = [Step("in_site", Direction.IN), Step("in_rack", Direction.IN),
             Step("ran_on", Direction.IN)]
    fleet.reset()
    traverse(fleet, "site:s1", steps)
    assert fleet.calls == {"neighbours": 3}


def test_filters_keep_matching_nodes(gql: Any) -> None:
    data = gql("""{ traverse(start: "site:s1", steps: [
        {edgeType: "in_site", direction: IN, where: [{property: "status", value: "ok"}]}
      ]) { items { id type } } }""")["traverse"]
    assert data["items"] and all(i["type"] != "" for i in data["items"])
    none = gql("""{ traverse(start: "site:s1", steps: [
        {edgeType: "in_site", direction: IN, where: [{property: "status", value: "nope"}]}
      ]) { items { id } total } }""")["traverse"]
    assert none == {"items": [], "total": 0}


def test_search_pages_through_matches(gql: Any) -> None:
    query = """query($after: String) { searchNodes(type: "job", first: 2, after: $after,
        where: [{property: "status", op: NE, value: "pending"}]) {
        items { id } endCursor hasNextPage scanned } }"""
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = gql(query, {"after": after})["searchNodes"]
        seen += [i["id"] for i in page["items"]]
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    all_jobs = gql('{ nodes(type: "job", first: 100) { items { id properties } } }')
    expected = [n["id"] for n in all_jobs["nodes"]["items"]
                if n["properties"].get("status") != "pending"]
    assert seen == expected and len(seen) > 2


def test_unknown_edge_types_are_refused_clearly(gql: Any) -> None:
    [message] = gql.errors('{ traverse(start: "site:s1", steps: [{edgeType: "hugs"}]) '
                           '{ total } }')
    assert "unknown edge type 'hugs'" in message


def test_a_search_cursor_must_end_in_ascii_digits() -> None:
    store = SQLiteGraphStore(FLEET)
    for cursor in ("rack:a#²", "rack:a#", "rack:a", "#-1", "rack:a#1.5"):
        with pytest.raises(InvalidArgument, match="is not a search cursor"):
            search_nodes(store, "rack", [], 10, after=cursor)
    assert search_nodes(store, "rack", [], 10, after="#0").records == []
