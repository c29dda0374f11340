"""Where the graph is kept: one interface, backends side by side."""

from fleetgraph.storage.base import Direction, GraphStore, Page, StorageError, TimeWindow

__all__ = ["Direction", "GraphStore", "Page", "StorageError", "TimeWindow"]
