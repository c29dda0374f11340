"""The answer of path: a shortest path, its nodes and the edges of its hops."""

from __future__ import annotations

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.queries import paths
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import Edge, Node, as_node


@strawberry.type(description="A shortest path between two nodes, or why there is none.")
class PathResult:
    answer: strawberry.Private[paths.PathResult]

    @field(description="Ids from 'fromId' to 'toId'; null when no path was found.")
    def node_ids(self) -> list[strawberry.ID] | None:
        found = self.answer.nodes
        return None if found is None else [strawberry.ID(n) for n in found]

    @field(description="The nodes of the path, in order (null for an id with no stored node).")
    async def nodes(self, info: Info) -> list[Node | None] | None:
        if self.answer.nodes is None:
            return None
        records = await info.context.loaders.nodes.load_many(self.answer.nodes)
        return [None if r is None else as_node(r) for r in records]

    @field(description="The edge of each hop, in its stored direction.")
    def edges(self) -> list[Edge]:
        return [Edge(record=r) for r in self.answer.records]

    @field(description="Hops of the path; null when none was found.")
    def length(self) -> int | None:
        return None if self.answer.nodes is None else len(self.answer.nodes) - 1

    @field(description="True when 'maxDepth' cut the search before a path was found; "
           "false with no path: there is none at any depth.")
    def exhausted(self) -> bool:
        return self.answer.exhausted
