"""Where the graph is kept: one interface, backends side by side."""

from fleetgraph.storage.base import (
    Direction,
    GraphStore,
    Layout,
    Page,
    StorageError,
    StorageUnavailable,
    TimeWindow,
)

__all__ = ["Direction", "GraphStore", "Layout", "Page", "StorageError", "StorageUnavailable",
           "TimeWindow"]
