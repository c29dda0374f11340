"""The ``fleetgraph`` command."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from fleetgraph.cli.backfill import backfill_command
from fleetgraph.cli.bench import BENCH_COMMANDS
from fleetgraph.cli.deadletters import deadletters
from fleetgraph.cli.events import events
from fleetgraph.cli.ingest_store import ingest_log
from fleetgraph.cli.publish import publish
from fleetgraph.cli.read_models import read_models
from fleetgraph.cli.scheduler import scheduler
from fleetgraph.cli.server import serve_workers, server_options, uvicorn_logging
from fleetgraph.cli.stack import stack
from fleetgraph.cli.storage_reindex import reindex
from fleetgraph.cli.stored_graph import stored_graph
from fleetgraph.cli.worker import worker
from fleetgraph.core.errors import ConfigError, FleetgraphError
from fleetgraph.core.logs import configure_logging
from fleetgraph.core.version import __version__
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.runner import RunReport
from fleetgraph.ingest.sources.eventlog import write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings, deprecated_variables, unknown_variables
from fleetgraph.storage.embedded import SQLiteGraphStore
from fleetgraph.storage.factory import STORES, open_store


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None
    return settings


class BadSetting(click.ClickException):
    """A setting fleetgraph cannot use: one line naming it, exit code 2 (a usage error)."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class FleetgraphGroup(click.Group):
    """The command's group: a bad setting, in any subcommand, is one line and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise BadSetting(str(exc)) from None


@click.group(cls=FleetgraphGroup)
@click.version_option(__version__, prog_name="fleetgraph")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where the event log, the embedded store and dead letters live "
                   "[env FLEETGRAPH_DATA_DIR; default .fleetgraph].")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """fleetgraph: a real-time knowledge graph of an AI compute fleet."""
    for line in [*unknown_variables(), *deprecated_variables()]:
        click.echo(f"warning: {line}", err=True)
    settings = Settings.from_environ()  # a bad value: a ConfigError naming its variable
    ctx.obj = settings if data_dir is None else settings.updated(data_dir=data_dir)
    if settings.log_format == "json":  # text: Python's default (warnings, as they are)
        configure_logging("json", "WARNING")


F = TypeVar("F", bound=Callable[..., Any])


def _simulation_options(func: F) -> F:
    options = [
        click.option("--sites", default=40, show_default=True, help="Sites in the fleet."),
        click.option("--hours", default=24.0, show_default=True, help="Hours of events."),
        click.option("--seed", default=7, show_default=True),
        click.option("--malformed-rate", default=0.001, show_default=True,
                     help="Fraction of deliberately malformed messages mixed in."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def simulate_to_log(path: Path, sites: int, hours: float, seed: int,
                    malformed_rate: float) -> int:
    from fleetgraph.simulator import SimulationConfig, estimate_events, simulate_messages

    config = SimulationConfig(seed=seed, sites=sites, hours=hours, malformed_rate=malformed_rate)
    codec = load_event_codec()
    total = estimate_events(config)
    with tqdm(desc="simulating", unit=" events", total=total, file=sys.stderr) as bar:
        def counted() -> Iterator[tuple[str, bytes]]:
            for topic, payload, _ in simulate_messages(config, codec):
                bar.update()
                yield str(topic), payload
        return write_event_log(path, counted())


@cli.command()
@_simulation_options
@click.option("--to", "target", type=click.Choice(["file", "kafka"]), default="file",
              show_default=True, help="An Avro event log, or the source topics on Kafka.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Event log to write [default: <data-dir>/events.avro].")
@click.pass_context
def simulate(ctx: click.Context, sites: int, hours: float, seed: int, malformed_rate: float,
             target: str, out: Path | None) -> None:
    """Simulate a fleet and write its event stream to an event log or to Kafka."""
    settings = _settings(ctx)
    if target == "kafka":
        from fleetgraph.ingest.kafka.producer import publish_messages
        from fleetgraph.simulator import SimulationConfig, simulate_messages

        config = SimulationConfig(seed=seed, sites=sites, hours=hours,
                                  malformed_rate=malformed_rate)
        stream = ((str(t), p) for t, p, _ in simulate_messages(config, load_event_codec()))
        count = publish_messages(settings, stream)
        click.echo(f"published {count:,} messages to {settings.kafka.bootstrap} "
                   f"(topics {settings.kafka.topic_prefix}<source>)")
        return
    path = out or settings.events_path
    count = simulate_to_log(path, sites, hours, seed, malformed_rate)
    click.echo(f"wrote {count:,} messages to {path}")


def print_report(report: RunReport, settings: Settings) -> None:
    s = report.stats
    click.echo(
        f"ingested {s.received:,} messages in {report.seconds:.1f} s "
        f"({report.events_per_second:,.0f} events/s): {s.accepted:,} accepted, "
        f"{sum(s.filtered.values()):,} filtered as noise, {s.dead_lettered:,} dead-lettered; "
        f"{s.upserts:,} updates collapsed to {s.written:,} writes"
    )
    if s.rejected:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.rejected.items()))
        click.echo(f"dead letters ({reasons}) are in {settings.dead_letter_path}")
    if s.warned:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.warned.items()))
        click.echo(f"warning: {sum(s.warned.values()):,} accepted events were stored in part "
                   f"({reasons}); each is recorded, whole, in {settings.dead_letter_path}")
    if report.late_side_inputs:
        click.echo(f"warning: {report.late_side_inputs:,} topology changes in this log are "
                   "older than events ingested before; those events keep the enrichment "
                   "they had (append logs in event-time order, or ingest them --fresh as one)")


@cli.command()
@click.argument("events", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                         path_type=Path), required=False)
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="Embedded store file [default: <data-dir>/graph.sqlite].")
@click.option("--fresh/--append", default=False,
              help="Empty the store (in place) and start a new dead-letter file, or merge "
                   "into the existing store, enriching from the topology it keeps.")
@click.option("--format", "fmt", type=click.Choice(["avro", "jsonl"]), default=None,
              help="The log's format [default: jsonl for *.jsonl, *.ndjson, *.json; else "
                   "avro]; needed for `-` (standard input).")
@click.pass_context
def ingest(ctx: click.Context, events: Path | None, db: Path | None, fresh: bool,
           fmt: str | None) -> None:
    """Run an event log through the pipeline into the embedded store: an Avro event log,
    or JSON lines, one event per line (docs/your-data.md)."""
    settings = _settings(ctx)
    report = ingest_log(settings, events or settings.events_path, db or settings.sqlite_path,
                        fresh=fresh, fmt=fmt)
    print_report(report, settings)


@cli.command()
@click.option("--store", "store_kind", type=click.Choice(STORES), default=None,
              help="[env FLEETGRAPH_STORE; default embedded]")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="Embedded store file [default: <data-dir>/graph.sqlite].")
@click.option("--host", default=None, help="[env FLEETGRAPH_HOST; default 127.0.0.1]")
@click.option("--port", type=int, default=None, help="[env FLEETGRAPH_PORT; default 8000]")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Server processes, each with its own store connection "
                   "[env FLEETGRAPH_SERVE_WORKERS; default 1].")
@click.pass_context
def serve(ctx: click.Context, store_kind: str | None, db: Path | None, host: str | None,
          port: int | None, workers: int | None) -> None:
    """Serve GraphQL (GraphiQL at /graphql) over the embedded store or Cassandra."""
    from fleetgraph.serving.app import serve as run_server

    settings = _settings(ctx)
    kind, path = stored_graph(settings, store_kind, db)
    processes = workers or settings.server.workers
    if processes > 1:  # the worker processes rebuild the settings from the environment
        os.environ.update({
            "FLEETGRAPH_STORE": kind, "FLEETGRAPH_SQLITE_FILE": str(path.resolve()),
            "FLEETGRAPH_DATA_DIR": str(settings.data_dir.resolve()),
        })
        resolved = settings.updated(server={"host": host or settings.server.host,
                                            "port": port or settings.server.port})
        serve_workers(resolved, processes)
        return
    run_server(open_store(settings.store, kind=kind, sqlite_path=path),
               host=host or settings.server.host, port=port or settings.server.port,
               **server_options(settings), **uvicorn_logging(settings))


@cli.group()
def storage() -> None:
    """The store's namespaces."""


@storage.command("init")
@click.pass_context
def storage_init(ctx: click.Context) -> None:
    """Create or migrate Cassandra's keyspaces and tables, one per node and edge type
    (idempotent; FLEETGRAPH_CASSANDRA_HOSTS, FLEETGRAPH_KEYSPACE_PREFIX, FLEETGRAPH_REPLICATION)."""
    with open_store(_settings(ctx).store, kind="cassandra", schema="trust") as store:
        ran = store.init_schema()
    for statement in ran:
        click.echo(statement)
    click.echo(f"{len(ran)} schema statements ran" if ran else "schema is up to date")


storage.add_command(reindex)


@storage.command("describe")
@click.option("--store", "store_kind", type=click.Choice(STORES), default=None,
              help="[env FLEETGRAPH_STORE; default embedded]")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="the embedded store's file [default <data-dir>/graph.sqlite]")
@click.pass_context
def storage_describe(ctx: click.Context, store_kind: str | None, db: Path | None) -> None:
    """List the namespaces, one per node and edge type: on Cassandra its keyspaces with
    their tables, expiry and replication (as cqlsh's DESCRIBE); embedded, the tables with
    their row counts."""
    settings = _settings(ctx)
    kind, path = stored_graph(settings, store_kind, db)
    with open_store(settings.store, kind=kind, sqlite_path=path, schema="trust") as store:
        layout = store.describe()
    for line in layout.lines:
        click.echo(line)
    click.echo(layout.summary)


@cli.command()
@_simulation_options
@click.option("--port", type=int, default=None, help="[env FLEETGRAPH_PORT; default 8000]")
@click.option("--serve/--no-serve", "keep_serving", default=True,
              help="Keep serving GraphQL after printing the examples.")
@click.pass_context
def demo(ctx: click.Context, sites: int, hours: float, seed: int, malformed_rate: float,
         port: int | None, keep_serving: bool) -> None:
    """Simulate a fleet, ingest it, write example queries with real ids, serve GraphQL."""
    from fleetgraph.cli.demo import check_port_free, ready_block
    from fleetgraph.cli.examples import examples_text, find_examples
    from fleetgraph.serving.app import serve as run_server
    from fleetgraph.serving.metrics import ingest_run_metrics
    from fleetgraph.serving.times import now_us

    settings = _settings(ctx)
    host, port = settings.server.host, port or settings.server.port
    if keep_serving:
        check_port_free(host, port)  # before the simulation and the ingest
    count = simulate_to_log(settings.events_path, sites, hours, seed, malformed_rate)
    click.echo(f"simulated {sites} sites over {hours:g} h: {count:,} messages "
               f"in {settings.events_path}")
    report = ingest_log(settings, settings.events_path, settings.sqlite_path, fresh=True)
    print_report(report, settings)
    store = SQLiteGraphStore(FLEET, settings.sqlite_path)
    url, now = f"http://{host}:{port}/graphql", now_us()
    examples = find_examples(store, now)
    examples_file = settings.data_dir / "examples.md"
    examples_file.write_text(examples_text(store, url, now, examples), encoding="utf-8")
    click.echo(ready_block(url, examples, examples_file, keep_serving))
    if keep_serving:
        logging = uvicorn_logging(settings)
        if "log_config" not in logging:  # the block stays last
            logging["log_level"] = "warning"
        run_server(store, host=host, port=port, **server_options(settings),
                   **logging, metrics=ingest_run_metrics(FLEET, report.stats))


@cli.group(invoke_without_command=True)
@click.option("--quick", is_flag=True, help="The quick profile (embedded only, ~2 minutes).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="JSON results [default: <data-dir>/bench.json].")
@click.option("--sizes", default=None, help="Graph sizes of the full profile, e.g. 1e5,1e6 "
              "[default: 1e5,1e6; 1e7 is possible but needs hours and many GiB].")
@click.option("--skip-stack", is_flag=True,
              help="Full profile without Kafka and Cassandra (embedded parts only).")
@click.option("--windows", default=None, help="Dedup windows (s) for freshness, e.g. 5,1 "
              "[default: FLEETGRAPH_DEDUP_WINDOW_S and 1].")
@click.option("--cassandra-sizes", default=None, help="Sizes also queried on Cassandra, "
              "bulk-loaded [default: 1e5; 1e6 takes 15-45 min to load on 2 cores].")
@click.option("--queries-only", is_flag=True,
              help="Only the sizes and their queries (embedded, and Cassandra for "
                   "--cassandra-sizes): no real-stack ingest, freshness or memory parts.")
@click.option("--sites", type=click.IntRange(min=1), default=None,
              help="With --quick: a smoke run instead, every query a few times on a fleet "
                   "of this many sites (seconds; the figures mean nothing).")
@click.option("--hours", type=click.FloatRange(min=0.5), default=2.0, show_default=True,
              help="With --sites: hours of events.")
@click.pass_context
def bench(ctx: click.Context, quick: bool, out: Path | None, sizes: str | None,
          skip_stack: bool, windows: str | None, cassandra_sizes: str | None,
          queries_only: bool, sites: int | None, hours: float) -> None:
    """Benchmark ingest, queries and memory against baselines; print a table, write JSON.

    `fleetgraph bench load` runs a load test against a running server instead."""
    from fleetgraph.bench.run import options, run, table

    if ctx.invoked_subcommand is not None:
        return
    path = out or _settings(ctx).data_dir / "bench.json"
    if sites is not None:
        if not quick:
            raise click.UsageError("--sites goes with --quick (a smoke run)")
        from fleetgraph.bench import smoke

        click.echo(smoke.table(smoke.run(sites, hours, path)))
        click.echo(f"\nJSON: {path}")
        return
    results = run("quick" if quick else options(_settings(ctx), sizes, skip_stack, windows,
                                                cassandra_sizes, queries_only), path)
    click.echo(table(results))
    click.echo(f"\nJSON: {path}")


@bench.command("load")
@click.option("--url", default=None, help="The GraphQL endpoint "
              "[default: http://<FLEETGRAPH_HOST>:<FLEETGRAPH_PORT>/graphql].")
@click.option("--clients", default=8, show_default=True, help="Concurrent clients.")
@click.option("--seconds", default=10.0, show_default=True, help="How long to send.")
@click.option("--token", default=None, help="API token (an ops token reads every query) "
              "[default: the first ops token in FLEETGRAPH_API_TOKENS, if any].")
@click.option("--max-requests", default=1_000_000, show_default=True,
              help="Stop after this many requests even if time is left.")
@click.option("--store", "store_kind", type=click.Choice(STORES), default=None,
              help="Where to pick real ids from: the server's store [env FLEETGRAPH_STORE].")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="Embedded store file [default: <data-dir>/graph.sqlite].")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="JSON results.")
@click.pass_context
def bench_load(ctx: click.Context, url: str | None, clients: int, seconds: float,
               token: str | None, max_requests: int, store_kind: str | None, db: Path | None,
               out: Path | None) -> None:
    """N clients for M seconds against a running server, with the users' queries on real
    ids; errors, requests/s and p50/p99 per query."""
    from fleetgraph.bench import load

    settings = _settings(ctx)
    url = url or f"http://{settings.server.host}:{settings.server.port}/graphql"
    ops = [t for t, role in settings.server.api_tokens.items() if role == "ops"]
    kind, path = stored_graph(settings, store_kind, db, then=" to pick ids from: give --db")
    store = open_store(settings.store, kind=kind, sqlite_path=path)
    try:
        report = load.run(url, store, clients=clients, seconds=seconds,
                          token=token or next(iter(ops), None), max_requests=max_requests)
    finally:
        store.close()
    click.echo(report.table())
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(load.dump(report))
        click.echo(f"JSON: {out}")


@cli.group()
def schemas() -> None:
    """Avro schemas of the emitted graph records."""


@schemas.command("export")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write DIR/graph/*.avsc and DIR/schema.graphql [default: in a source "
                   "tree, its schemas/graph/ and serving/schema.graphql; installed, "
                   "./fleetgraph-schemas].")
def export_schemas(out: Path | None) -> None:
    """Write one .avsc per node and edge type, and the GraphQL SDL: in a source tree its
    checked-in files (schemas/graph/, serving/schema.graphql), else to --out or
    ./fleetgraph-schemas (never inside the installed package)."""
    from fleetgraph.graph_model.export import export
    from fleetgraph.serving import sdl
    from fleetgraph.settings import source_checkout

    if out is None and source_checkout() is None:
        out = Path("fleetgraph-schemas")
    if out is None:
        written = [*export(FLEET), sdl.export()]
    else:
        written = [*export(FLEET, out / "graph"), sdl.export(out / "schema.graphql")]
    for path in written:
        click.echo(path)


cli.add_command(backfill_command, "backfill")
cli.add_command(deadletters)
cli.add_command(events)
cli.add_command(publish)
cli.add_command(read_models)
cli.add_command(worker)
cli.add_command(stack)
cli.add_command(scheduler)
for command in BENCH_COMMANDS:
    bench.add_command(command)


def _add_integrity_command() -> None:
    from fleetgraph.cli.integrity import integrity

    cli.add_command(integrity)


_add_integrity_command()


def _add_audit_command() -> None:
    from fleetgraph.cli.audit import audit

    cli.add_command(audit)


_add_audit_command()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except FleetgraphError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
