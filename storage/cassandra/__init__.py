"""The cluster backend: Cassandra, one keyspace per node type and per edge type."""

from __future__ import annotations

from fleetgraph.graph_model.types import Registry
from fleetgraph.storage.cassandra.schema import WIDE_EDGES, Wide
from fleetgraph.storage.cassandra.store import CassandraGraphStore
from fleetgraph.storage.config import CassandraConfig

__all__ = ["WIDE_EDGES", "CassandraConfig", "CassandraGraphStore", "Wide", "init_schema"]


def init_schema(config: CassandraConfig, registry: Registry | None = None) -> list[str]:
    """Create or migrate the keyspaces and tables of ``registry`` (the fleet's by
    default); idempotent. Returns the DDL that ran (empty when up to date)."""
    if registry is None:
        from fleetgraph.graph_model import FLEET

        registry = FLEET
    store = CassandraGraphStore(registry, config, schema="trust")
    try:
        return store.init_schema()
    finally:
        store.close()
