"""The embedded store an ``ingest`` (or a dead-letter replay) writes to, and the log it
reads (an Avro event log or JSON lines).

``--fresh`` empties the store in place (same file, one transaction), so a server
reading it sees the new contents rather than a deleted file. The ingest itself
(:mod:`fleetgraph.ingest.embedded`) knows the store only by what it does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterFile, archive_dead_letters
from fleetgraph.ingest.embedded import ingest_into_store, store_pipeline
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import RunReport
from fleetgraph.ingest.sources.logs import EventLog
from fleetgraph.settings import Settings
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


def log_messages(events: Path, pipeline: Pipeline, *, fmt: str | None = None) -> EventLog:
    """The messages of the log ``events`` (Avro or JSON lines, by its name or ``fmt``;
    ``-`` reads standard input) for ``pipeline``: a line that is no event is counted
    and dead-lettered by it, with its line number and reason."""
    return EventLog(events, pipeline.codec, fmt=fmt, on_bad_line=pipeline.refuse)


def ingest_log(settings: Settings, events: Path, db: Path, *, fresh: bool,
               fmt: str | None = None, desc: str = "ingesting",
               progress: bool = True) -> RunReport:
    """Ingest an event log (Avro, or JSON lines: by its name or ``fmt``); ``fresh``
    empties the store in place and starts a new dead-letter file (the old one is
    archived beside it). ``desc`` labels the progress bar (``progress``: shown)."""
    store = open_for_ingest(db, fresh=fresh)
    if fresh:
        archive_dead_letters(settings.dead_letter_path)
    dead_letters = DeadLetterFile(settings.dead_letter_path)
    try:
        pipeline = store_pipeline(settings, store, dead_letters)
        with tqdm(desc=desc, unit=" events", file=sys.stderr, disable=not progress) as bar:
            return ingest_into_store(pipeline, store, log_messages(events, pipeline, fmt=fmt),
                                     on_message=lambda: bar.update())
    finally:
        dead_letters.close()
        store.close()
