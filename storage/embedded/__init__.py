"""The embedded backend: SQLite on one file, a table per node and edge type."""

from fleetgraph.storage.embedded.store import SQLiteGraphStore

__all__ = ["SQLiteGraphStore"]
