"""Declarations of node and edge types, and the registry that holds them.

A type is declared once, here in the model: its name, typed properties, whether
it carries a validity interval, and its two horizons: ``ttl_seconds``, the live
TTL (how long after its last update the serving path keeps a record hot), and
``history_seconds``, the history retention (how long the writes of a type with
a TTL are kept for as-of and audit reads; ``None``: forever, see
docs/queries.md, "Horizons and history"). Storage derives its namespaces
(tables, keyspaces) and serving its fields from these declarations; the Avro
schema of the emitted records is derived in :mod:`fleetgraph.graph_model.avro`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from fleetgraph.core.errors import FleetgraphError

VALID_FROM = "valid_from"
VALID_TO = "valid_to"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what every store keeps of an int or a time
MAX_STRING = 1024  # characters of a string property, unless declared otherwise
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # never part of a stored string


class GraphModelError(FleetgraphError):
    """A value or an id does not fit the graph model."""


class DomainError(GraphModelError):
    """A value of the right kind outside its property's declared domain.

    ``reason`` is the dead-letter code: ``out_of_range`` (a number outside its
    range), ``bad_value`` (not one of the declared choices, or a control
    character) or ``oversized`` (a string longer than its maximum).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


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
    """A typed property of a node or edge type, and its domain.

    The domain is declared once, with the property: ``low`` and ``high`` bound
    a number (ints and times are always within 64 bits, floats finite),
    ``choices`` lists the values a string may take, ``max_length`` bounds a
    string (which never holds a control character). Validation applies it to
    every event that sets the property.
    """

    name: str
    kind: PropKind
    doc: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    max_length: int = MAX_STRING

    @cached_property
    def bounds(self) -> tuple[float, float]:
        """The closed range of a number: the declared one, within what its kind holds
        (64 bits for ints and times, finite for floats)."""
        if self.kind is PropKind.FLOAT:
            least, most = -sys.float_info.max, sys.float_info.max
        else:
            least, most = INT64_MIN, INT64_MAX
        return (least if self.low is None else max(self.low, least),
                most if self.high is None else min(self.high, most))

    def check(self, value: Any) -> None:
        """Raise DomainError when ``value`` (of this property's kind) is outside the domain."""
        if value is None or self.kind is PropKind.BOOL:
            return
        if self.kind is PropKind.STRING:
            self._check_string(value)
            return
        if type(value) is not float and type(value) is not int:  # a bool is no number here
            raise DomainError("bad_value", f"{self.name}={value!r} is not a number")
        low, high = self.bounds
        if not low <= value <= high:  # NaN is within no range
            raise DomainError("out_of_range", f"{self.name}={value} is outside "
                              f"[{_bound(low)}, {_bound(high)}]")

    def _check_string(self, value: Any) -> None:
        if not isinstance(value, str):
            raise DomainError("bad_value", f"{self.name}={value!r} is not a string")
        if len(value) > self.max_length:
            raise DomainError("oversized", f"{self.name} is {len(value)} characters "
                              f"(limit {self.max_length})")
        if self.choices is not None and value not in self.choices:
            raise DomainError("bad_value", f"{self.name}={value!r} is not one of "
                              f"{', '.join(self.choices)}")
        if CONTROL.search(value):
            raise DomainError("bad_value", f"{self.name}={value!r} holds a control character")


def _bound(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() and abs(limit) < 1e18 else f"{limit:g}"


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
    history_seconds: int | None = None

    @classmethod
    def declare(
        cls,
        name: str,
        props: Iterable[Prop] = (),
        *,
        doc: str = "",
        temporal: bool = False,
        ttl_seconds: int | None = None,
        history_seconds: int | None = None,
    ) -> NodeType:
        _check_horizons(name, ttl_seconds, history_seconds)
        return cls(name, _props(temporal, props), doc, temporal, ttl_seconds, history_seconds)


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
    history_seconds: int | None = None

    @property
    def keeps_history(self) -> bool:
        """Its writes are kept in a history namespace: it expires from the live one."""
        return self.ttl_seconds is not None

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
        history_seconds: int | None = None,
    ) -> EdgeType:
        _check_horizons(name, ttl_seconds, history_seconds)
        return cls(
            name,
            frozenset(from_types),
            frozenset(to_types),
            _props(temporal, props),
            doc,
            temporal,
            ttl_seconds,
            history_seconds,
        )


def _check_horizons(name: str, ttl_seconds: int | None, history_seconds: int | None) -> None:
    """The live TTL is positive; the history retention, when bounded, outlasts it."""
    if ttl_seconds is not None and ttl_seconds <= 0:
        raise GraphModelError(f"type {name!r}: the live TTL must be positive, got {ttl_seconds}")
    if history_seconds is not None and (
        ttl_seconds is None or history_seconds < ttl_seconds
    ):
        raise GraphModelError(
            f"type {name!r}: a history retention ({history_seconds} s) needs a live TTL "
            f"it outlasts (TTL {ttl_seconds} s)")


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
        """Check property names, convert values to their declared kinds and check
        them against their domains (DomainError)."""
        by_name = {p.name: p for p in declared}
        out: dict[str, Any] = {}
        for name, value in values.items():
            prop = by_name.get(name)
            if prop is None:
                raise GraphModelError(f"{owner} has no property {name!r}")
            value = prop.kind.coerce(value)
            prop.check(value)
            out[name] = value
        return out
