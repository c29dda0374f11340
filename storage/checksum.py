"""A digest per namespace of a stored graph: same digests, same graph.

``graph_digests(store, registry)`` hashes the rows of ``store.dump()`` (a stable
order) namespace by namespace, one entry for every node type (``node_<type>``)
and every edge type (``edge_<type>``) of the registry, empty ones included.
Digests compare stores of one backend: the embedded and the Cassandra stores
lay rows out differently. ``without_source(store)`` leaves out the provenance
source (``topic/partition/offset`` on Kafka, ``sim:<n>`` from the embedded
runner), so a graph ingested through Kafka compares with one ingested in-process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleetgraph.graph_model.types import Registry
from fleetgraph.storage.base import GraphStore, StorageError

Row = tuple[object, ...]
Normalize = Callable[[str, Row], Row]  # (dump namespace, row) -> the row to hash


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str


def namespaces(registry: Registry) -> list[str]:
    """``node_<type>`` and ``edge_<type>`` for every type of the registry."""
    return sorted([*(f"node_{n}" for n in registry.nodes), *(f"edge_{e}" for e in registry.edges)])


def namespace_of(dumped: str, known: list[str]) -> str:
    """The namespace of a dump name: ``node_cdu`` (embedded) or
    ``<prefix>node_cdu.nodes`` (Cassandra keyspace and table)."""
    keyspace = dumped.split(".", 1)[0]
    matches = [n for n in known if keyspace == n or keyspace.endswith(n)]
    if not matches:
        raise StorageError(f"{dumped!r} belongs to no namespace of the registry")
    return max(matches, key=len)


def graph_digests(store: GraphStore, registry: Registry,
                  normalize: Normalize | None = None) -> dict[str, TableDigest]:
    """Rows and SHA-256 of every namespace; ``normalize`` rewrites rows before hashing."""
    known = namespaces(registry)
    hashes = {name: hashlib.sha256() for name in known}
    rows = dict.fromkeys(known, 0)
    for dumped, row in store.dump():
        name = namespace_of(dumped, known)
        table = dumped.split(".", 1)[1] if "." in dumped else ""
        hashes[name].update(repr((table, normalize(dumped, row) if normalize else row)).encode())
        rows[name] += 1
    return {name: TableDigest(rows[name], hashes[name].hexdigest()) for name in known}


def digest_differences(expected: dict[str, TableDigest], actual: dict[str, TableDigest]
                       ) -> list[str]:
    """One line per namespace whose digest differs (empty when the graphs are the same)."""
    lines = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want != got:
            lines.append(f"{name}: expected {want}, got {got}")
    return lines


def without_source(store: GraphStore) -> Normalize:
    """A normalizer that blanks the provenance source of ``store``'s rows."""
    from fleetgraph.storage.embedded import SQLiteGraphStore

    if isinstance(store, SQLiteGraphStore):
        skip = {t.name: t.all_columns.index("_source") for t in store.tables}

        def embedded(dumped: str, row: Row) -> Row:
            i = skip[dumped]
            return (*row[:i], "", *row[i + 1:])

        return embedded
    from fleetgraph.storage.cassandra import CassandraGraphStore

    if isinstance(store, CassandraGraphStore):
        return _cassandra_without_source(store)
    raise StorageError(f"no provenance source column known for {type(store).__name__}")


def _cassandra_without_source(store: Any) -> Normalize:
    from fleetgraph.storage.cassandra.schema import LATEST, SEP

    latest = {t.qualified: t.select_columns.index(LATEST) for t in store.tables}

    def cassandra(dumped: str, row: Row) -> Row:
        i = latest[dumped]
        value = row[i]
        if not isinstance(value, str):
            return row
        event_id, _source, rest = value.split(SEP, 2)
        return (*row[:i], SEP.join((event_id, "", rest)), *row[i + 1:])

    return cassandra
