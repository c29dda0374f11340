"""What ``init_schema()`` must run to bring the cluster's schema up to the registry.

Compares the declared namespaces with the driver's schema metadata: missing
keyspaces and tables are created, newly declared properties added as columns, a
changed TTL altered. A changed property type or bucket count cannot be migrated
in place and is reported as a conflict. A derived table (the time index, the bucket
directory) made beside live tables that already exist is made "pending" (its comment
says so): its rows are missing until ``fleetgraph storage reindex`` fills it, and
reads do not use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetgraph.storage.cassandra.schema import (
    DerivedTable,
    EdgeNamespace,
    NodeNamespace,
    Table,
    buckets_in_comment,
    keyspace_cql,
)

Namespace = NodeNamespace | EdgeNamespace


@dataclass
class Migration:
    """DDL in the order it must run, and what cannot be migrated."""

    keyspaces: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    alters: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def statements(self) -> list[str]:
        return [*self.keyspaces, *self.tables, *self.alters]


def plan_migration(
    keyspaces: Mapping[str, Any], namespaces: Sequence[Namespace], replication: str
) -> Migration:
    """``keyspaces`` is the driver's ``cluster.metadata.keyspaces``."""
    migration = Migration()
    for namespace in namespaces:
        keyspace = keyspaces.get(namespace.keyspace)
        if keyspace is None:
            migration.keyspaces.append(keyspace_cql(namespace.keyspace, replication))
        have_live = keyspace is not None and any(
            keyspace.tables.get(t.name) is not None for t in namespace.tables)
        for table in namespace.schema_tables:
            existing = keyspace.tables.get(table.name) if keyspace is not None else None
            if existing is None:
                if isinstance(table, DerivedTable) and have_live:
                    table = table.pending()  # live rows without derived rows: reindex
                migration.tables.append(table.create_cql())
            else:
                _compare(table, existing, migration)
    return migration


def _compare(table: Table, existing: Any, migration: Migration) -> None:
    have = {name: column.cql_type for name, column in existing.columns.items()}
    for column, cql_type in [*table.value_columns, *table.meta_columns]:
        if column not in have:
            migration.alters.append(table.add_column_cql(column, cql_type))
        elif have[column] != cql_type:
            migration.conflicts.append(
                f"{table.qualified}.{column} is {have[column]}, the registry declares {cql_type}"
            )
    options = existing.options or {}
    state = table.state_in(options.get("comment")) if isinstance(table, DerivedTable) else None
    if isinstance(table, DerivedTable) and state is not None and state[0] != table.layout:
        migration.conflicts.append(
            f"{table.qualified} holds {table.label} layout {state[0]}, this version reads "
            f"layout {table.layout}: drop the table, run `fleetgraph storage init`, then "
            "`fleetgraph storage reindex`")
        return
    recorded = buckets_in_comment(options.get("comment")) or 1
    if recorded != table.buckets:
        migration.conflicts.append(
            f"{table.qualified} is spread over {recorded} buckets, configured {table.buckets}: "
            "re-bucketing needs a copy into a new keyspace"
        )
    elif int(options.get("default_time_to_live") or 0) != (table.ttl_seconds or 0):
        migration.alters.append(table.alter_options_cql())


def index_ready(keyspaces: Mapping[str, Any], namespace: EdgeNamespace) -> bool:
    """Whether reads may use the namespace's time index: its tables exist and none is
    pending (made beside older live rows, not reindexed yet)."""
    if namespace.index is None:
        return False
    return ready(keyspaces, namespace.index.tables)


def directory_ready(keyspaces: Mapping[str, Any], namespace: EdgeNamespace) -> bool:
    """Whether reads may use the namespace's bucket directory (as ``index_ready``)."""
    if namespace.directory is None:
        return False
    return ready(keyspaces, (namespace.directory,))


def ready(keyspaces: Mapping[str, Any], tables: Sequence[DerivedTable]) -> bool:
    """Whether these derived tables all exist, of this version's layout, ready."""
    for table in tables:
        keyspace = keyspaces.get(table.keyspace)
        existing = keyspace.tables.get(table.name) if keyspace is not None else None
        if existing is None:
            return False
        state = table.state_in((existing.options or {}).get("comment"))
        if state != (table.layout, True):
            return False
    return True
