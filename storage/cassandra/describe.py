"""What fleetgraph's keyspaces look like on a live cluster, read from ``system_schema``
(what ``cqlsh``'s DESCRIBE would show): one keyspace per node and per edge type,
their tables, expiry and replication."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgraph.storage.cassandra.session import connect, driver_errors
from fleetgraph.storage.config import CassandraConfig


@dataclass(frozen=True, slots=True)
class TableInfo:
    keyspace: str
    table: str
    default_ttl_s: int  # 0: no expiry
    comment: str


@dataclass(frozen=True, slots=True)
class KeyspaceInfo:
    name: str
    replication: dict[str, str]
    tables: tuple[TableInfo, ...]


def describe_keyspaces(config: CassandraConfig) -> list[KeyspaceInfo]:
    """fleetgraph's keyspaces (those named with ``config.keyspace_prefix``), by name."""
    cluster, session = connect(config)
    try:
        with driver_errors("reading system_schema", config.where):
            keyspaces = {
                name: dict(replication)
                for name, replication in session.execute(
                    "SELECT keyspace_name, replication FROM system_schema.keyspaces")
                if name.startswith(config.keyspace_prefix)
            }
            tables: dict[str, list[TableInfo]] = {}
            for keyspace, table, ttl, comment in session.execute(
                "SELECT keyspace_name, table_name, default_time_to_live, comment "
                "FROM system_schema.tables"
            ):
                if keyspace in keyspaces:
                    tables.setdefault(keyspace, []).append(
                        TableInfo(keyspace, table, int(ttl or 0), comment or ""))
    finally:
        cluster.shutdown()
    return [
        KeyspaceInfo(name, keyspaces[name],
                     tuple(sorted(tables.get(name, []), key=lambda t: t.table)))
        for name in sorted(keyspaces)
    ]
