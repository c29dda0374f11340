"""Open the store the settings name: ``embedded`` (SQLite) or ``cassandra``."""

from __future__ import annotations

from pathlib import Path

from fleetgraph.core.errors import ConfigError
from fleetgraph.graph_model import FLEET
from fleetgraph.settings import Settings
from fleetgraph.storage.base import GraphStore

STORES = ("embedded", "cassandra")


def open_store(settings: Settings, kind: str | None = None, db: Path | None = None) -> GraphStore:
    kind = kind or settings.store.kind
    if kind == "embedded":
        from fleetgraph.storage.embedded import SQLiteGraphStore

        path = db or settings.sqlite_path
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteGraphStore(FLEET, path)
    if kind == "cassandra":
        from fleetgraph.storage.cassandra import CassandraGraphStore

        return CassandraGraphStore(FLEET, settings)
    raise ConfigError(f"unknown store {kind!r}; choose one of {', '.join(STORES)}")
