"""The cluster backend: Cassandra, one keyspace per node type and per edge type."""

from __future__ import annotations

from fleetgraph.settings import Settings
from graph_model.types import Registry
from storage.cassandra.schema import WIDE_EDGES, Wide
from storage.cassandra.session import CassandraConfig
from storage.cassandra.store import CassandraGraphStore

__all__ = ["WIDE_EDGES", "CassandraConfig", "CassandraGraphStore", "Wide", "init_schema"]


def init_schema(settings: Settings, registry: Registry | None = None) -> list[str]:
    """Create or migrate the keyspaces and tables of ``registry`` (the fleet's by
    default); idempotent. Returns the DDL that ran (empty when up to date)."""
    if registry is None:
        from graph_model import FLEET

        registry = FLEET
    store = CassandraGraphStore(registry, settings, schema="trust")
    try:
        return store.init()
    finally:
        store.close()
