"""The embedded store's graph read out of its file, streaming, for a copy elsewhere.

``StoreExport(path, registry)`` opens the file read only (the store, and anything
writing it, may stay open: WAL readers see the last commit) and gives back:

* ``live()``: every node and edge record as the upsert that makes it, in batches
  type by type
  (``upserts_of``: each property with its own event time, the latest provenance,
  the creation); a table is read through a cursor, never whole;
* ``history()``: every kept write of the edge types with history (``hist_<type>``),
  as ``fleetgraph.storage.history.Write``, in batches per edge type.

Rows past their TTL are read as any other (the store hides them on read; a copy
with TTLs drops them itself). The read models are not exported: they are derived
from the graph, and rebuilt where it is copied to.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
from fleetgraph.graph_model.types import PropKind, Registry
from fleetgraph.storage.base import StorageError
from fleetgraph.storage.embedded.store import history_write
from fleetgraph.storage.embedded.tables import HistoryTable, Table
from fleetgraph.storage.history import Write

BATCH = 5000  # rows fetched, and upserts given, at a time


def upserts_of(table: Table, node: bool, type_name: str,
               rows: Iterable[tuple[Any, ...]]) -> list[Upsert]:
    """The rows of one node or edge table (all its columns, as ``dump()`` gives them)
    as the upserts that make them."""
    keys = len(table.key_columns)
    props = [(p.name, p.kind is PropKind.BOOL, keys + 2 * i) for i, p in enumerate(table.props)]
    meta = keys + 2 * len(props)
    out: list[Upsert] = []
    for row in rows:
        values: dict[str, Any] = {}
        older: dict[str, int] = {}
        ts = row[meta]
        for name, is_bool, i in props:
            at = row[i + 1]
            if at is None:
                continue
            value = row[i]
            values[name] = bool(value) if is_bool and value is not None else value
            if at != ts:
                older[name] = at
        provenance = Provenance(row[meta + 1], row[meta + 2], row[meta + 3], row[meta + 4])
        created = (row[meta + 5], row[meta + 6])
        if node:
            out.append(NodeUpsert(type_name, row[0], values, ts, provenance, older or None,
                                  created))
        else:
            out.append(EdgeUpsert(type_name, row[0], row[1], values, ts, provenance,
                                  older or None, created))
    return out


class StoreExport:
    """A read-only view of an embedded store file (see the module's doc)."""

    def __init__(self, path: Path, registry: Registry) -> None:
        if not path.is_file():
            raise StorageError(f"no embedded store at {path}")
        self.path = path
        self.registry = registry
        try:
            self._db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path} for reading: {exc}") from exc
        # (node?, type, table), tables by name as dump() orders them
        self.tables = sorted(
            [*((True, n, Table.for_node(t)) for n, t in registry.nodes.items()),
             *((False, e, Table.for_edge(t)) for e, t in registry.edges.items())],
            key=lambda entry: entry[2].name)
        self.history_tables = {e: HistoryTable.for_edge(t) for e, t in registry.edges.items()
                               if t.keeps_history}

    def counts(self) -> dict[str, int]:
        """Rows per table (node, edge and history tables)."""
        names = [t.name for _, _, t in self.tables]
        names += [h.name for h in self.history_tables.values()]
        return {name: int(self._select(f"SELECT count(*) FROM {name}").fetchone()[0])
                for name in names}

    def live(self, batch: int = BATCH) -> Iterator[tuple[bool, str, list[Upsert]]]:
        """Every node and edge record as its upsert, ``batch`` at a time, type by type:
        (node?, type, upserts)."""
        for node, type_name, table in self.tables:
            cursor = self._select(f"SELECT {', '.join(table.all_columns)} FROM {table.name}")
            while rows := cursor.fetchmany(batch):
                yield node, type_name, upserts_of(table, node, type_name, rows)

    def history(self, batch: int = BATCH) -> Iterator[tuple[str, list[Write]]]:
        """Every kept write of the types with history: (edge type, writes)."""
        for edge_type, table in sorted(self.history_tables.items()):
            cursor = self._select(f"SELECT {', '.join(table.columns)} FROM {table.name}")
            while rows := cursor.fetchmany(batch):
                yield edge_type, [history_write(table, row) for row in rows]

    def close(self) -> None:
        self._db.close()

    def _select(self, sql: str) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql)
        except sqlite3.Error as exc:
            raise StorageError(
                f"{self.path} does not hold this registry's graph ({exc}): open it once "
                "with `fleetgraph storage init --store embedded --db PATH` to migrate it"
            ) from exc
