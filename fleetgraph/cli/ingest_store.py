"""The embedded store an ``ingest`` (or a dead-letter replay) writes to.

``--fresh`` empties the store in place (same file, one transaction), so a server
reading it sees the new contents rather than a deleted file. The ingest itself
(:mod:`fleetgraph.ingest.embedded`) knows the store only by what it does.
"""

from __future__ import annotations

from pathlib import Path

from fleetgraph.graph_model import FLEET
from fleetgraph.storage.base import StorageError
from fleetgraph.storage.embedded import SQLiteGraphStore


def open_for_ingest(path: Path, *, fresh: bool) -> SQLiteGraphStore:
    """The store at ``path``, emptied in place when ``fresh``.

    A file that is no SQLite store at all cannot be emptied in place: with
    ``fresh`` it is replaced (a server reading it notices the new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        store = SQLiteGraphStore(FLEET, path)
    except StorageError:
        if not fresh:
            raise
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return SQLiteGraphStore(FLEET, path)
    if fresh:
        store.reset()
    return store
