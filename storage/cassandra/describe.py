"""What fleetgraph's keyspaces look like on a live cluster, read from ``system_schema``
(what ``cqlsh``'s DESCRIBE would show): one keyspace per node and per edge type,
their tables, expiry and replication."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleetgraph.storage.base import Layout
from fleetgraph.storage.cassandra.read_models import KEYSPACE_SUFFIX as READ_MODELS
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
    """fleetgraph's keyspaces (those named with ``config.keyspace_prefix``), by name, on a
    connection of its own."""
    cluster, session = connect(config)
    try:
        return read_keyspaces(session, config)
    finally:
        cluster.shutdown()


def read_keyspaces(session: Any, config: CassandraConfig) -> list[KeyspaceInfo]:
    """fleetgraph's keyspaces, by name, read with ``session``."""
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
    return [
        KeyspaceInfo(name, keyspaces[name],
                     tuple(sorted(tables.get(name, []), key=lambda t: t.table)))
        for name in sorted(keyspaces)
    ]


def layout(keyspaces: Sequence[KeyspaceInfo], prefix: str) -> Layout:
    """The keyspaces for people: replication, then each table with its expiry and comment
    (as cqlsh's DESCRIBE)."""
    lines: list[str] = []
    for keyspace in keyspaces:
        lines.append(f"{keyspace.name}  {keyspace.replication.get('class', '?').split('.')[-1]} "
                     f"rf={keyspace.replication.get('replication_factor', '-')}")
        for info in keyspace.tables:
            ttl = f"ttl {info.default_ttl_s} s" if info.default_ttl_s else "no expiry"
            pending = "  (run `fleetgraph storage reindex`)" if info.comment.endswith(
                " pending") else ""
            lines.append(f"  {info.table:<12} {ttl:<16} {info.comment}{pending}")
    summary = (f"{len(keyspaces)} keyspaces, {sum(len(k.tables) for k in keyspaces)} tables "
               f"(prefix {prefix!r})")
    # the graph's namespaces; the read models' keyspace is listed in the lines, not among
    # them (derived rows, as on the embedded store)
    graph = tuple(k.name for k in keyspaces if k.name != f"{prefix}{READ_MODELS}")
    return Layout(graph, tuple(lines), summary)
