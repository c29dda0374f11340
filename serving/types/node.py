"""The Node interface, the Edge type, and the mapping from node records to classes.

Every node type of the graph model is served through ``Node``; the types with a
typed class (registered with ``node_class``) add their properties and
relationships, any other type (declared later) is served as ``GenericNode``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Generic, TypeVar

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
N = TypeVar("N", bound=Node)


class NodeKind(Generic[N]):
    """The typed class ``N`` that serves the nodes of one type of the graph model.

    The node classes refer to each other across modules, so a relationship names
    the class at its far end by a kind declared beforehand
    (:mod:`fleetgraph.serving.types.refs`); ``node_class`` binds the kind to its
    class. ``NODE`` is any node, served by its own class.
    """

    __slots__ = ("_cls", "type_name")

    def __init__(self, type_name: str | None, cls: type[N] | None = None) -> None:
        self.type_name = type_name  # None: any type
        self._cls = cls

    def __repr__(self) -> str:
        return f"NodeKind({self.type_name!r})"

    def bind(self, cls: type[N]) -> None:
        self._cls = cls

    def holds(self, node_id: str) -> bool:
        """The id names a node of this kind (by its type prefix)."""
        return self.type_name is None or node_id.partition(":")[0] == self.type_name

    def of(self, record: NodeRecord) -> N:
        """The typed object of a record of this kind."""
        node = as_node(record)
        if self._cls is None or not isinstance(node, self._cls):
            raise TypeError(f"{record.id!r} is served as {type(node).__name__}, not {self}")
        return node


NODE: NodeKind[Node] = NodeKind(None, Node)


def node_class(kind: NodeKind[N]) -> Callable[[type[N]], type[N]]:
    """Register the typed class that serves the nodes of ``kind``."""
    type_name = kind.type_name
    if type_name is None:
        raise ValueError("a node class serves one node type")

    def register(cls: type[N]) -> type[N]:
        NODE_CLASSES[type_name] = cls
        kind.bind(cls)
        return cls

    return register


def as_node(record: NodeRecord) -> Node:
    """The typed GraphQL object of a node record (GenericNode for untyped types)."""
    return NODE_CLASSES.get(record.type, GenericNode)(record=record)


async def load_node(info: Info, node_id: str) -> Node | None:
    record = await info.context.loaders.nodes.load(node_id)
    return None if record is None else as_node(record)
