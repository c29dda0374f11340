"""GraphQL types: the Node interface, one typed class per node type, query results.

Importing this package registers every typed node class (see ``node_class``).
"""

from fleetgraph.serving.types import artifacts, compute, power_cooling, sites, work
from fleetgraph.serving.types.node import GenericNode, Node, as_node

__all__ = [
    "GenericNode",
    "Node",
    "artifacts",
    "as_node",
    "compute",
    "power_cooling",
    "sites",
    "work",
]
