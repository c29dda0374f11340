"""The property graph of the fleet: node and edge types, ids and records."""

from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.graph_model.ids import node_type_of, parse_id
from fleetgraph.graph_model.records import (
    EdgeRecord,
    EdgeUpsert,
    NodeRecord,
    NodeUpsert,
    Provenance,
)
from fleetgraph.graph_model.types import (
    EdgeType,
    GraphModelError,
    NodeType,
    Prop,
    PropKind,
    Registry,
)

__all__ = [
    "FLEET",
    "EdgeRecord",
    "EdgeType",
    "EdgeUpsert",
    "GraphModelError",
    "NodeRecord",
    "NodeType",
    "NodeUpsert",
    "Prop",
    "PropKind",
    "Provenance",
    "Registry",
    "node_type_of",
    "parse_id",
]
