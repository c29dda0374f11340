"""A page of nodes of one type, in id order."""

from __future__ import annotations

import strawberry

from fleetgraph.serving.types.node import Node


@strawberry.type(description="One page of nodes; pass endCursor as 'after' for the next.")
class NodeConnection:
    items: list[Node]
    end_cursor: str | None
    has_next_page: bool
