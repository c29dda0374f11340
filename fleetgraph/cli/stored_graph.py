"""The graph a command reads: which store (``--store``, else FLEETGRAPH_STORE) and, for
the embedded one, which file (``--db``, else the data directory's), refused with one
line when no graph is there yet."""

from __future__ import annotations

from pathlib import Path

import click

from fleetgraph.settings import Settings
from fleetgraph.storage.factory import missing_graph

INGEST_FIRST = ": run `fleetgraph ingest` first"


def stored_graph(settings: Settings, store_kind: str | None, db: Path | None,
                 then: str = INGEST_FIRST) -> tuple[str, Path]:
    """(store kind, embedded file) of the graph to read; ClickException "<what is
    missing><then>" when it is not there."""
    kind = store_kind or settings.store.kind
    path = db or settings.sqlite_path
    if missing := missing_graph(settings.store, kind=kind, sqlite_path=path):
        raise click.ClickException(f"{missing}{then}")
    return kind, path
