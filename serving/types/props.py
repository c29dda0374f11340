"""Typed property fields: ``name: str | None = SITE("name")`` reads ``record.props``.

The class annotation gives the GraphQL type, strawberry camel-cases the name, the
graph model gives the description; a name the model does not declare fails at
import. Times (µs since epoch in the store) are served as UTC datetimes.
"""

from __future__ import annotations

from typing import Any

import strawberry

from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.graph_model.types import PropKind
from fleetgraph.serving.times import to_datetime
from fleetgraph.serving.types.node import Node


class PropFields:
    """Field factory for the declared properties of one node type."""

    def __init__(self, type_name: str) -> None:
        self.node_type = FLEET.node(type_name)

    @property
    def doc(self) -> str | None:
        return self.node_type.doc or None

    def __call__(self, name: str) -> Any:
        declared = self.node_type.prop(name)
        if declared.kind is PropKind.TIME:

            def resolve(self: Node) -> Any:
                return to_datetime(self.record.props.get(name))

        else:

            def resolve(self: Node) -> Any:
                return self.record.props.get(name)

        return strawberry.field(resolver=resolve, description=declared.doc or None)
