"""``fleetgraph storage reindex``: fill the time index of temporal edge types from
the live rows, and the bucket directory of wide sides from their rows, after ``storage
init`` added them beside data written before them.

On Cassandra, ``storage init`` makes a missing index table "pending" when the
type's live tables already exist; window reads go the old way (whole partitions)
until this command has filled the index and marked it ready (the same for a wide
side's bucket directory: reads ask every bucket until then); one ready already is left
alone. It is idempotent and may run while ingest writes (new writes index themselves).
The embedded store's index is an SQL index that SQLite fills when it is created:
nothing to do.
"""

from __future__ import annotations

from pathlib import Path

import click

from fleetgraph.cli.stored_graph import stored_graph
from fleetgraph.settings import Settings
from fleetgraph.storage.factory import STORES, open_store


@click.command("reindex")
@click.option("--store", "store_kind", type=click.Choice(STORES), default=None,
              help="[env FLEETGRAPH_STORE; default embedded]")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="the embedded store's file [default <data-dir>/graph.sqlite]")
@click.pass_context
def reindex(ctx: click.Context, store_kind: str | None, db: Path | None) -> None:
    """Fill the time index of interval edge types from the live rows (after `storage
    init` on a store written by an older version), then let window reads use it."""
    settings = ctx.find_object(Settings)
    assert settings is not None
    kind, path = stored_graph(settings, store_kind, db)
    with open_store(settings.store, kind=kind, sqlite_path=path) as store:
        done = store.reindex()
    for name, rows in done.items():  # "<type>" for a time index, "<type> buckets"
        what = "bucket directory entries" if name.endswith(" buckets") else "live rows indexed"
        click.echo(f"{name:<20} {rows:>12,} {what}")
    click.echo(f"{len(done)} time indexes and bucket directories filled and ready" if done
               else "nothing to reindex: every index is ready (or kept by the database itself)")
