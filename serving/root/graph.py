"""Browsing the graph: a node by id, pages of a type, traversals and searches."""

from __future__ import annotations

from bisect import bisect_right

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.queries.lookup import type_of
from fleetgraph.serving.queries.traverse import search_nodes, traverse
from fleetgraph.serving.types.explore import (
    PropertyFilterInput,
    SearchResult,
    TraverseResult,
    TraverseStep,
)
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import Node, as_node, load_node
from fleetgraph.serving.types.paging import NodeConnection

MAX_PAGE = 1000


def _check_first(first: int) -> None:
    if not 1 <= first <= MAX_PAGE:
        raise InvalidArgument(f"'first' must be between 1 and {MAX_PAGE}, got {first}")


def _check_type(info: Info, node_type: str) -> None:
    registry = info.context.registry
    if node_type not in registry.nodes:
        known = ", ".join(sorted(registry.nodes))
        raise InvalidArgument(f"unknown node type {node_type!r}; known: {known}")


@strawberry.type
class GraphQuery:
    @field(description="A node by id ('<type>:<name>'); null when there is none.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_of(id)  # a malformed id is an error, not "not found"
        return await load_node(info, id)

    @field(description=f"Nodes of one type in id order, at most {MAX_PAGE} a page.")
    async def nodes(
        self, info: Info, type: str, first: int = 50, after: str | None = None
    ) -> NodeConnection | None:
        _check_type(info, type)
        _check_first(first)
        page = await info.context.reads.run("nodes", info.context.store.scan_nodes, type, after,
                                            first, bounded=True)  # first <= MAX_PAGE
        info.context.loaders.nodes.prime_many({r.id: r for r in page.records})
        return NodeConnection(
            items=[as_node(r) for r in page.records],
            end_cursor=page.records[-1].id if page.records else after,
            has_next_page=page.next_after is not None,
        )

    @field(description="A bounded traversal from one node: each step follows one edge type "
           "in one direction; the last frontier comes in pages, sorted by id. A cut "
           "frontier is said (truncated), never silent.")
    async def traverse(
        self, info: Info, start: strawberry.ID, steps: list[TraverseStep], first: int = 50,
        after: str | None = None,
    ) -> TraverseResult:
        _check_first(first)
        type_of(start)
        registry = info.context.registry
        for step in steps:
            if step.edge_type not in registry.edges:
                known = ", ".join(sorted(registry.edges))
                raise InvalidArgument(f"unknown edge type {step.edge_type!r}; known: {known}")
        found = await info.context.reads.run(
            "traverse", traverse, info.context.store, start, [s.plain() for s in steps])
        begin = 0 if after is None else bisect_right(found.ids, after)
        page = found.ids[begin : begin + first]
        records = await info.context.loaders.nodes.load_many(page)
        return TraverseResult(
            items=[as_node(r) for r in records if r is not None],
            end_cursor=page[-1] if page else after,
            has_next_page=begin + first < len(found.ids),
            total=len(found.ids),
            frontier_sizes=found.frontier_sizes,
            truncated=found.truncated,
            truncated_at_step=found.truncated_at_step,
        )

    @field(description="Nodes of one type whose properties pass every filter, in pages.")
    async def search_nodes(
        self, info: Info, type: str, where: list[PropertyFilterInput], first: int = 50,
        after: str | None = None,
    ) -> SearchResult:
        _check_type(info, type)
        _check_first(first)
        found = await info.context.reads.run(
            "searchNodes", search_nodes, info.context.store, type, [f.plain() for f in where],
            first, after)
        info.context.loaders.nodes.prime_many({r.id: r for r in found.records})
        return SearchResult(
            items=[as_node(r) for r in found.records],
            end_cursor=found.next_after,
            has_next_page=found.next_after is not None,
            scanned=found.scanned,
        )
