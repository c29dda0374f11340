"""Stored graphs compared row by row, without the provenance source.

The embedded runner's sources are ``sim:<index>``, Kafka's are
``topic/partition/offset``; everything else (values, their event times, the
newest and first event ids) must be the same.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

from fleetgraph.storage.embedded import SQLiteGraphStore

Rows = dict[str, list[tuple[object, ...]]]


def rows_without_source(store: SQLiteGraphStore) -> Rows:
    tables = {table.name: table for table in store.tables}
    out: Rows = {name: [] for name in tables}
    for namespace, row in store.dump():
        skip = tables[namespace].all_columns.index("_source")
        out[namespace].append(row[:skip] + row[skip + 1:])
    return out


def read_rows_without_source(path: Path, like: SQLiteGraphStore) -> Rows:
    """The rows of a store file another process is writing (read-only, no schema changes)."""
    out: Rows = {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        for table in like.tables:
            columns = [c for c in table.all_columns if c != "_source"]
            try:
                cursor = db.execute(f"SELECT {', '.join(columns)} FROM {table.name} "
                                    f"ORDER BY {', '.join(table.key_columns)}")
            except sqlite3.OperationalError:  # not created yet
                out[table.name] = []
                continue
            out[table.name] = [tuple(row) for row in cursor]
    finally:
        db.close()
    return out


def differences(expected: Rows, actual: Rows, limit: int = 2, width: int = 600) -> list[str]:
    """What differs, briefly (empty when the graphs are the same)."""
    lines = []
    for name in sorted(set(expected) | set(actual)):
        want, got = Counter(expected.get(name, [])), Counter(actual.get(name, []))
        if want == got:
            continue
        missing, extra = list((want - got).elements()), list((got - want).elements())
        line = (f"{name}: {sum(want.values())} rows expected, {sum(got.values())} stored, "
                f"{len(missing)} missing, {len(extra)} unexpected; e.g. missing "
                f"{missing[:limit]}, unexpected {extra[:limit]}")
        lines.append(line[:width])
    return lines
