"""Browsing the graph: one node by id, pages of nodes by type."""

from __future__ import annotations

import asyncio

import strawberry

from serving.context import Info
from serving.errors import InvalidArgument
from serving.queries.lookup import type_of
from serving.types.field import field
from serving.types.node import Node, as_node, load_node
from serving.types.paging import NodeConnection

MAX_PAGE = 1000


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
        registry = info.context.registry
        if type not in registry.nodes:
            known = ", ".join(sorted(registry.nodes))
            raise InvalidArgument(f"unknown node type {type!r}; known: {known}")
        if not 1 <= first <= MAX_PAGE:
            raise InvalidArgument(f"'first' must be between 1 and {MAX_PAGE}, got {first}")
        page = await asyncio.to_thread(info.context.store.scan_nodes, type, after, first)
        info.context.loaders.nodes.prime_many({r.id: r for r in page.records})
        return NodeConnection(
            items=[as_node(r) for r in page.records],
            end_cursor=page.records[-1].id if page.records else after,
            has_next_page=page.next_after is not None,
        )
