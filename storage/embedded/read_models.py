"""The embedded store's read models: derived rows kept beside the graph, one table.

``read_model (model, key, value)``: text values by model and key (the pipeline's
site states, ``fleetgraph.ingest.read_models``). Not a graph namespace: ``dump`` and
the checksums leave it out (it is derived: ``fleetgraph read-models rebuild`` makes
it again from the graph); ``reset`` empties it with the rest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

READ_MODEL_TABLE = "read_model"
CREATE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {READ_MODEL_TABLE} (model TEXT NOT NULL, key TEXT NOT NULL, "
    "value TEXT NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID"
)
NAMESPACE_PREFIX = "read_model_"  # count("read_model_<model>"): rows of one model
IN_CHUNK = 500


def put_rows(db: sqlite3.Connection, model: str, rows: Mapping[str, str | None]) -> None:
    """Write (``None``: delete) rows of one model; run inside the caller's transaction."""
    db.executemany(
        f"INSERT OR REPLACE INTO {READ_MODEL_TABLE} (model, key, value) VALUES (?, ?, ?)",
        ((model, key, value) for key, value in rows.items() if value is not None))
    db.executemany(
        f"DELETE FROM {READ_MODEL_TABLE} WHERE model = ? AND key = ?",
        ((model, key) for key, value in rows.items() if value is None))


def get_rows(
    db: sqlite3.Connection, model: str, keys: Sequence[str] | None
) -> dict[str, str]:
    """Rows of one model: those of ``keys`` there are, or all of them (by key)."""
    if keys is None:
        cursor = db.execute(
            f"SELECT key, value FROM {READ_MODEL_TABLE} WHERE model = ? ORDER BY key", (model,))
        return dict(cursor.fetchall())
    found: dict[str, str] = {}
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), IN_CHUNK):
        chunk = unique[i : i + IN_CHUNK]
        cursor = db.execute(
            f"SELECT key, value FROM {READ_MODEL_TABLE} WHERE model = ? "
            f"AND key IN ({','.join('?' * len(chunk))})", (model, *chunk))
        found.update(cursor.fetchall())
    return found


def count_rows(db: sqlite3.Connection, model: str) -> int:
    return int(db.execute(
        f"SELECT count(*) FROM {READ_MODEL_TABLE} WHERE model = ?", (model,)).fetchone()[0])


def describe_lines(db: sqlite3.Connection) -> list[str]:
    """One line per read model: its rows (derived; not in dump or checksums)."""
    rows = db.execute(
        f"SELECT model, count(*) FROM {READ_MODEL_TABLE} GROUP BY model ORDER BY model")
    return [f"{READ_MODEL_TABLE} {model:<13} {n:>12,} rows (derived)" for model, n in rows]
