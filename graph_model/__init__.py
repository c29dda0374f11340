"""The property graph of the fleet: node and edge types, ids and records."""

from graph_model.fleet import FLEET
from graph_model.ids import node_type_of, parse_id
from graph_model.records import (
    EdgeRecord,
    EdgeUpsert,
    NodeRecord,
    NodeUpsert,
    Provenance,
)
from graph_model.types import EdgeType, GraphModelError, NodeType, Prop, PropKind, Registry

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
