"""``fleetgraph backfill ARCHIVE``: replay an archived event log into a store, in bulk;
``fleetgraph backfill --from-store PATH --store cassandra``: copy an embedded store.

On Cassandra the pipeline's upserts become the store's own rows, written as SSTables
by a Java process and imported into the running node (storage/cassandra/bulk.py,
infra/bulk/); on the embedded store it is the ordinary ingest, already a bulk path.
A copy of an embedded store (storage/copy.py) skips the pipeline: the stored
records and their kept history go to the same SSTable writer, then the read models
(site states, replicas) are computed from the embedded store at the copy's clock and
their rows written to Cassandra (the same rows as a rebuild there, without reading the
fleet back through the driver).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
from tqdm import tqdm

from fleetgraph.cli.ingest_store import ingest_log
from fleetgraph.core.clock import wall_clock_us
from fleetgraph.ingest.backfill import BackfillReport, backfill
from fleetgraph.ingest.deadletter import DeadLetterFile
from fleetgraph.ingest.read_models.maintain import rebuild_read_models
from fleetgraph.ingest.runner import RunReport
from fleetgraph.settings import Settings
from fleetgraph.storage.bulk import open_bulk_load
from fleetgraph.storage.copy import CopyReport, copy_embedded, copy_read_models
from fleetgraph.storage.factory import STORES


def backfill_cassandra(settings: Settings, archive: Path, work_dir: Path, *,
                       import_sstables: bool = True, progress: bool = True) -> BackfillReport:
    """The archive into the Cassandra store of ``settings`` through SSTables."""
    from fleetgraph.infra.bulk import bulk_tools

    tools = bulk_tools(settings.stack, import_sstables=import_sstables)
    load = open_bulk_load(settings.store, kind="cassandra", tools=tools, work_dir=work_dir)
    dead_letters = DeadLetterFile(settings.dead_letter_path)
    try:
        with tqdm(desc="backfilling", unit=" events", file=sys.stderr,
                  disable=not progress) as bar:
            return backfill(archive, load, dead_letters, ingest=settings.ingest,
                            on_message=bar.update)
    finally:
        dead_letters.close()


def copy_to_cassandra(settings: Settings, source: Path, work_dir: Path, *,
                      progress: bool = True, clock: Callable[[], int] = wall_clock_us
                      ) -> tuple[CopyReport, float]:
    """The embedded store at ``source`` into the Cassandra store of ``settings`` through
    SSTables, then its read models computed from ``source`` as of ``clock()`` and
    written there; the copy and the read models' seconds."""
    from fleetgraph.infra.bulk import bulk_tools

    tools = bulk_tools(settings.stack)
    with tqdm(desc="copying", unit=" records", file=sys.stderr, disable=not progress) as bar:
        report = copy_embedded(source, settings.store, tools=tools, work_dir=work_dir,
                               on_rows=bar.update)
    seconds = copy_read_models(source, settings.store,
                               lambda store: rebuild_read_models(store, clock), clock=clock)
    return report, seconds


def backfill_embedded(settings: Settings, archive: Path, db: Path, *, fresh: bool,
                      progress: bool = True) -> RunReport:
    """The archive into the embedded store: the ordinary ingest (``fleetgraph ingest``)."""
    return ingest_log(settings, archive, db, fresh=fresh, desc="backfilling",
                      progress=progress)


def _pipeline_line(run: RunReport) -> str:
    s = run.stats
    return (f"{s.received:,} events: {s.accepted:,} accepted, {sum(s.filtered.values()):,} "
            f"filtered as noise, {s.dead_lettered:,} dead-lettered; {s.upserts:,} updates "
            f"collapsed to {s.written:,} writes")


@click.command()
@click.argument("archive", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from-store", "from_store", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Instead of an archive: copy this embedded store file (graph.sqlite, read "
                   "only) into Cassandra with no pipeline (its nodes, edges and kept history "
                   "as stored), then its read models computed at the copy's time. Needs --store "
                   "cassandra.")
@click.option("--store", "store_kind", type=click.Choice(STORES), default=None,
              help="[env FLEETGRAPH_STORE; default embedded]")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="Embedded store file [default: <data-dir>/graph.sqlite].")
@click.option("--fresh/--append", default=False,
              help="Embedded store: empty it first (as `ingest --fresh`). Cassandra merges "
                   "by event time either way.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cassandra: where SSTables are written before the import, on the node's "
                   "file system [default: <data-dir>/backfill].")
@click.option("--no-import", "no_import", is_flag=True,
              help="Cassandra: write the SSTables and keep them, import nothing.")
@click.pass_context
def backfill_command(ctx: click.Context, archive: Path | None, from_store: Path | None,
                     store_kind: str | None, db: Path | None, fresh: bool,
                     work_dir: Path | None, no_import: bool) -> None:
    """Replay an archived event log (as `fleetgraph simulate` writes) into a store in
    bulk: the same pipeline as every ingest, the same graph as streaming it.

    With --from-store PATH --store cassandra, copy an embedded store into Cassandra
    instead (moving a deployment from the embedded default to the real stack): the
    same graph, no pipeline, at the SSTable writer's speed."""
    settings = ctx.find_object(Settings)
    assert settings is not None
    kind = store_kind or settings.store.kind
    if (archive is None) == (from_store is None):
        raise click.UsageError("give an ARCHIVE or --from-store PATH (one of them)")
    if from_store is not None:
        if kind != "cassandra":
            raise click.UsageError("--from-store copies into Cassandra: add --store cassandra")
        if no_import:
            raise click.UsageError("--no-import is for archives; a copy always imports")
        copied, rebuild_s = copy_to_cassandra(settings, from_store,
                                              work_dir or settings.data_dir / "backfill")
        load = copied.load
        click.echo(
            f"copied {copied.records:,} records and {copied.history_writes:,} history writes "
            f"of {from_store}: {load.rows:,} rows in {load.sstables:,} SSTables of "
            f"{load.tables} tables, imported; {copied.seconds:.1f} s "
            f"({copied.rows_per_second:,.0f} rows/s; writer {load.write_seconds:.1f} s, "
            f"import {load.import_seconds:.1f} s); CPU s: reading and planning "
            f"{copied.cpu_seconds:.1f}, SSTable writer {load.helper_cpu_seconds:.1f}; "
            f"read models computed from the source and written in {rebuild_s:.1f} s")
        return
    assert archive is not None
    started, cpu = time.perf_counter(), time.process_time()
    if kind == "embedded":
        run = backfill_embedded(settings, archive, db or settings.sqlite_path, fresh=fresh)
        seconds = time.perf_counter() - started
        click.echo(f"backfilled {_pipeline_line(run)}")
        click.echo(f"{seconds:.1f} s, {run.stats.received / seconds:,.0f} events/s, "
                   f"{time.process_time() - cpu:.1f} CPU s")
    else:
        report = backfill_cassandra(settings, archive, work_dir or settings.data_dir / "backfill",
                                    import_sstables=not no_import)
        load = report.load
        click.echo(f"backfilled {_pipeline_line(report.run)}")
        where = "imported" if load.imported else f"kept in {load.sstable_dir}"
        click.echo(
            f"{load.rows:,} rows in {load.sstables:,} SSTables of {load.tables} tables, {where}; "
            f"{report.seconds:.1f} s ({report.events_per_second:,.0f} events/s, "
            f"{report.rows_per_second:,.0f} rows/s; writer {load.write_seconds:.1f} s, "
            f"import {load.import_seconds:.1f} s); CPU s: planning {report.cpu_seconds:.1f}, "
            f"SSTable writer {load.helper_cpu_seconds:.1f}")
    if (dead := settings.dead_letter_path).exists():
        click.echo(f"dead letters are in {dead}")
