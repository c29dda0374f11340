"""Declarations of node and edge types, and the registry that holds them.

A type is declared once, here in the model: its name, typed properties, whether
it carries a validity interval, and its expiry. Storage derives its namespaces
(tables, keyspaces) and serving its fields from these declarations; the Avro
schema of the emitted records is derived in :mod:`graph_model.avro`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fleetgraph.errors import FleetgraphError

VALID_FROM = "valid_from"
VALID_TO = "valid_to"


class GraphModelError(FleetgraphError):
    """A value or an id does not fit the graph model."""


class PropKind(Enum):
    """The type of a property's value."""

    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    TIME = "time"  # microseconds since the Unix epoch, UTC

    def coerce(self, value: Any) -> Any:
        """Convert a wire value (often a string from an attribute map) to this kind."""
        if value is None:
            return None
        try:
            if self is PropKind.STRING:
                return str(value)
            if self is PropKind.BOOL:
                if isinstance(value, str):
                    if value.lower() in ("true", "1", "yes"):
                        return True
                    if value.lower() in ("false", "0", "no"):
                        return False
                    raise ValueError(value)
                return bool(value)
            if self is PropKind.FLOAT:
                result = float(value)
                if result != result or result in (float("inf"), float("-inf")):
                    raise ValueError(value)
                return result
            return int(value)  # INT and TIME
        except (TypeError, ValueError) as exc:
            raise GraphModelError(f"{value!r} is not a valid {self.value}") from exc


@dataclass(frozen=True)
class Prop:
    """A typed property of a node or edge type."""

    name: str
    kind: PropKind
    doc: str = ""


def _props(temporal: bool, props: Iterable[Prop]) -> tuple[Prop, ...]:
    declared = list(props)
    if temporal:
        declared += [
            Prop(VALID_FROM, PropKind.TIME, "start of the validity interval"),
            Prop(VALID_TO, PropKind.TIME, "end of the validity interval; empty while open"),
        ]
    names = [p.name for p in declared]
    if len(names) != len(set(names)):
        raise GraphModelError(f"duplicate property names in {names}")
    return tuple(declared)


class _HasProps:
    """What node and edge types share: a name and typed properties."""

    name: str
    props: tuple[Prop, ...]
    kind = "type"

    @property
    def prop_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.props)

    def prop(self, name: str) -> Prop:
        for p in self.props:
            if p.name == name:
                return p
        raise GraphModelError(f"{self.kind} {self.name!r} has no property {name!r}")


@dataclass(frozen=True)
class NodeType(_HasProps):
    """A node type: ids of nodes of this type start with ``<name>:``."""

    kind = "node type"

    name: str
    props: tuple[Prop, ...]
    doc: str = ""
    temporal: bool = False
    ttl_seconds: int | None = None

    @classmethod
    def declare(
        cls,
        name: str,
        props: Iterable[Prop] = (),
        *,
        doc: str = "",
        temporal: bool = False,
        ttl_seconds: int | None = None,
    ) -> NodeType:
        return cls(name, _props(temporal, props), doc, temporal, ttl_seconds)


@dataclass(frozen=True)
class EdgeType(_HasProps):
    """An edge type: directed from one of ``from_types`` to one of ``to_types``."""

    kind = "edge type"

    name: str
    from_types: frozenset[str]
    to_types: frozenset[str]
    props: tuple[Prop, ...]
    doc: str = ""
    temporal: bool = False
    ttl_seconds: int | None = None

    @classmethod
    def declare(
        cls,
        name: str,
        from_types: Iterable[str],
        to_types: Iterable[str],
        props: Iterable[Prop] = (),
        *,
        doc: str = "",
        temporal: bool = False,
        ttl_seconds: int | None = None,
    ) -> EdgeType:
        return cls(
            name,
            frozenset(from_types),
            frozenset(to_types),
            _props(temporal, props),
            doc,
            temporal,
            ttl_seconds,
        )


@dataclass
class Registry:
    """All node and edge types of one graph, looked up by name."""

    nodes: dict[str, NodeType] = field(default_factory=dict)
    edges: dict[str, EdgeType] = field(default_factory=dict)

    def add_node(self, node_type: NodeType) -> NodeType:
        if node_type.name in self.nodes:
            raise GraphModelError(f"node type {node_type.name!r} is declared twice")
        self.nodes[node_type.name] = node_type
        return node_type

    def add_edge(self, edge_type: EdgeType) -> EdgeType:
        if edge_type.name in self.edges:
            raise GraphModelError(f"edge type {edge_type.name!r} is declared twice")
        unknown = (edge_type.from_types | edge_type.to_types) - self.nodes.keys()
        if unknown:
            raise GraphModelError(
                f"edge type {edge_type.name!r} names unknown node types {sorted(unknown)}"
            )
        self.edges[edge_type.name] = edge_type
        return edge_type

    def node(self, name: str) -> NodeType:
        try:
            return self.nodes[name]
        except KeyError:
            raise GraphModelError(
                f"unknown node type {name!r}; known: {', '.join(sorted(self.nodes))}"
            ) from None

    def edge(self, name: str) -> EdgeType:
        try:
            return self.edges[name]
        except KeyError:
            raise GraphModelError(
                f"unknown edge type {name!r}; known: {', '.join(sorted(self.edges))}"
            ) from None

    def coerce_props(
        self, declared: tuple[Prop, ...], owner: str, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Check property names and convert values to their declared kinds."""
        by_name = {p.name: p for p in declared}
        out: dict[str, Any] = {}
        for name, value in values.items():
            prop = by_name.get(name)
            if prop is None:
                raise GraphModelError(f"{owner} has no property {name!r}")
            out[name] = prop.kind.coerce(value)
        return out
