"""Inputs and answers of the ops explorer's generic traversal and search."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from fleetgraph.serving.queries.traverse import PropertyFilter, Step
from fleetgraph.serving.times import to_us
from fleetgraph.serving.types.node import EdgeDirection, Node


@strawberry.enum(description="How a property is compared with the filter's value.")
class FilterOp(Enum):
    EQ = "EQ"
    NE = "NE"
    LT = "LT"
    GT = "GT"


@strawberry.input(description="Keep nodes whose property compares as asked with value.")
class PropertyFilterInput:
    property: str
    value: JSON
    op: FilterOp = FilterOp.EQ

    def plain(self) -> PropertyFilter:
        return PropertyFilter(self.property, self.op.value, self.value)


@strawberry.input(description="One hop: an edge type, a direction, optional filters.")
class TraverseStep:
    edge_type: str
    direction: EdgeDirection = EdgeDirection.OUT
    at: datetime | None = strawberry.field(
        default=None, description="Only edges valid at this instant.")
    where: list[PropertyFilterInput] | None = strawberry.field(
        default=None, description="Only to nodes whose properties pass every filter.")

    def plain(self) -> Step:
        return Step(self.edge_type, self.direction.store, to_us(self.at),
                    tuple(f.plain() for f in self.where or ()))


@strawberry.type(description="The last frontier of a traversal, one page of it.")
class TraverseResult:
    items: list[Node]
    end_cursor: str | None
    has_next_page: bool
    total: int = strawberry.field(description="Nodes in the last frontier (after any cut).")
    frontier_sizes: list[int] = strawberry.field(
        description="Nodes reached at each step, before any cut.")
    truncated: bool = strawberry.field(
        description="A frontier was cut to the limit: the answer is partial.")
    truncated_at_step: int | None = strawberry.field(
        description="The first step (from 1) whose frontier was cut.")


@strawberry.type(description="Nodes whose properties pass the filters, one page.")
class SearchResult:
    items: list[Node]
    end_cursor: str | None
    has_next_page: bool
    scanned: int = strawberry.field(description="Nodes looked at for this page.")
