"""The Node interface, the Edge type, and the mapping from node records to classes.

Every node type of the graph model is served through ``Node``; the types with a
typed class (registered with ``node_class``) add their properties and
relationships, any other type (declared later) is served as ``GenericNode``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, TypeVar

import strawberry
from strawberry.scalars import JSON

from fleetgraph.graph_model.records import EdgeRecord, NodeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.serving.context import Info
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.times import to_datetime
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.origin import Origin
from fleetgraph.serving.windows import edge_window
from fleetgraph.storage.base import Direction


@strawberry.enum(name="Direction", description="OUT: from -> to; IN: to -> from.")
class EdgeDirection(Enum):
    OUT = "out"
    IN = "in"

    @property
    def store(self) -> Direction:
        return Direction(self.value)


@strawberry.interface(description="A node of the fleet graph; ids are '<type>:<name>'.")
class Node:
    record: strawberry.Private[NodeRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.record.id)

    @field(name="type")
    def node_type(self) -> str:
        return self.record.type

    @field(description="Stored properties as they are (times in µs since epoch).")
    def properties(self) -> JSON:
        return JSON(self.record.props)

    @strawberry.field
    def origin(self) -> Origin | None:
        return Origin.of(self.record.origin)

    @field(
        description="Edges of one type; 'at' keeps those valid at that instant, "
        "'from'/'to' those overlapping [from, to)."
    )
    async def neighbours(
        self,
        info: Info,
        edge_type: str,
        direction: EdgeDirection = EdgeDirection.OUT,
        at: datetime | None = None,
        start: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        end: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    ) -> list[Edge]:
        if edge_type not in info.context.registry.edges:
            known = ", ".join(sorted(info.context.registry.edges))
            raise InvalidArgument(f"unknown edge type {edge_type!r}; known: {known}")
        window = edge_window(at, start, end)
        loader = info.context.loaders.neighbours(edge_type, direction.store, window)
        return [Edge(record=e) for e in await loader.load(self.record.id)]


@strawberry.type(description="A node of a type that has no typed class (yet).")
class GenericNode(Node):
    pass


@strawberry.type(description="A directed edge with its validity interval and properties.")
class Edge:
    record: strawberry.Private[EdgeRecord]

    @field(name="type")
    def edge_type(self) -> str:
        return self.record.type

    @strawberry.field
    def from_id(self) -> strawberry.ID:
        return strawberry.ID(self.record.from_id)

    @strawberry.field
    def to_id(self) -> strawberry.ID:
        return strawberry.ID(self.record.to_id)

    @field(name="from")
    async def from_node(self, info: Info) -> Node | None:
        return await load_node(info, self.record.from_id)

    @field(name="to")
    async def to_node(self, info: Info) -> Node | None:
        return await load_node(info, self.record.to_id)

    @strawberry.field
    def valid_from(self) -> datetime | None:
        return to_datetime(self.record.props.get(VALID_FROM))

    @strawberry.field
    def valid_to(self) -> datetime | None:
        return to_datetime(self.record.props.get(VALID_TO))

    @strawberry.field
    def properties(self) -> JSON:
        return JSON(self.record.props)

    @strawberry.field
    def origin(self) -> Origin | None:
        return Origin.of(self.record.origin)


NODE_CLASSES: dict[str, type[Node]] = {}
N = TypeVar("N", bound=type[Node])


def node_class(type_name: str) -> Callable[[N], N]:
    """Register the typed class that serves nodes of ``type_name``."""

    def register(cls: N) -> N:
        NODE_CLASSES[type_name] = cls
        return cls

    return register


def as_node(record: NodeRecord) -> Node:
    """The typed GraphQL object of a node record (GenericNode for untyped types)."""
    return NODE_CLASSES.get(record.type, GenericNode)(record=record)


async def load_node(info: Info, node_id: str) -> Node | None:
    record = await info.context.loaders.nodes.load(node_id)
    return None if record is None else as_node(record)
