"""The ``fleetgraph bench`` subcommands beside the profiles and ``load`` (which are in
main.py): one-off measurements for BENCHMARKS.md. The measuring is in fleetgraph/bench/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from fleetgraph.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None
    return settings


@click.command("kafka")
@click.option("--sites", default=40, show_default=True, help="Sites in the fleet.")
@click.option("--hours", default=7.0, show_default=True, help="Hours of events.")
@click.option("--partitions", default=4, show_default=True, help="Partitions of the topics.")
@click.option("--dedup-window", default=1.0, show_default=True, help="Seconds.")
@click.option("--store", "store_kind", type=click.Choice(["embedded", "cassandra"]),
              default="embedded", show_default=True, help="The worker's sink.")
@click.option("--keep-topics", is_flag=True, help="Do not delete the topics afterwards.")
@click.option("--loglevel", default="warning", show_default=True, help="The worker's.")
@click.pass_context
def bench_kafka(ctx: click.Context, sites: int, hours: float, partitions: int,
                dedup_window: float, store_kind: str, keep_topics: bool, loglevel: str) -> None:
    """Throughput of Kafka -> Faust -> store: a simulated fleet published to fresh
    topics, drained by one in-process worker; next to the embedded runner's rate."""
    from fleetgraph.bench import kafka_throughput

    kafka_throughput.run(_settings(ctx), sites=sites, hours=hours, partitions=partitions,
                         dedup_window_s=dedup_window, store_kind=store_kind,
                         keep_topics=keep_topics, loglevel=loglevel)


@click.command("hotpath")
@click.argument("what", type=click.Choice(["ingest", "worker", "query"]))
@click.option("--query", default="placement", show_default=True, help="With `query`.")
@click.option("--size", default="1e5", show_default=True, help="With `query`.")
@click.option("--runs", default=20, show_default=True, help="With `query`.")
@click.option("--sites", default=20, show_default=True)
@click.option("--hours", default=12.0, show_default=True)
@click.option("--top", default=25, show_default=True, help="Entries of each profile.")
def bench_hotpath(what: str, query: str, size: str, runs: int, sites: int, hours: float,
                  top: int) -> None:
    """cProfile (CPU time) of a hot path: the embedded runner (ingest), a Faust worker
    on Cassandra (worker; needs the stack) or one GraphQL query (query)."""
    from fleetgraph.bench import hotpath

    if what == "query":
        sys.stdout.write(hotpath.profile_query(query, size, runs, top))
        return
    profile = hotpath.profile_ingest if what == "ingest" else hotpath.profile_worker
    sys.stdout.write(profile(sites, hours, top))


@click.command("steady-memory")
@click.option("--rate", default=500.0, show_default=True, help="Background messages/s.")
@click.option("--seconds", default=30.0, show_default=True,
              help="The short stream; the long one is ten times longer.")
@click.pass_context
def bench_steady_memory(ctx: click.Context, rate: float, seconds: float) -> None:
    """Worker and server peak RSS on a steady stream and on one ten times longer
    (needs the stack); JSON."""
    from fleetgraph.bench import steady_memory

    click.echo(json.dumps(steady_memory.run(_settings(ctx), rate, seconds), indent=1))


@click.command("report")
@click.argument("results", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def bench_report(results: Path) -> None:
    """Markdown tables of a bench JSON (for BENCHMARKS.md)."""
    from fleetgraph.bench.report import markdown

    sys.stdout.write(markdown(json.loads(results.read_text())))


@click.command("guard-cost")
def bench_guard_cost() -> None:
    """CPU time of the document guards on a fragment cycle and fragment DAGs."""
    from fleetgraph.bench.guard_cost import measure

    for line in measure():
        click.echo(line)


@click.command("startup")
@click.option("--sites", default=1000, show_default=True, help="Sites in the fleet.")
@click.option("--days", default=365.0, show_default=True, type=click.FloatRange(min=1.0),
              help="Days of inventory churn.")
@click.option("--churn", default=1.0, show_default=True, help="Times the yearly churn rates.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON.")
def bench_startup(sites: int, days: float, churn: float, out: Path | None) -> None:
    """A worker's start-up: the topology rebuilt from the whole inventory topic, and
    from a snapshot plus the last day's inventory (no Kafka); JSON."""
    from fleetgraph.bench import startup

    text = json.dumps(startup.run(sites, days, churn), indent=1)
    if out is not None:
        out.write_text(text + "\n")
    click.echo(text)


@click.command("graphql-path")
@click.option("--sites", default=40, show_default=True, help="Sites in the fleet (the demo's).")
@click.option("--hours", default=24.0, show_default=True, help="Hours of events.")
@click.option("--repeats", default=300, show_default=True, help="Calls of each path per query.")
@click.option("--budget", default=3.0, show_default=True, help="Seconds per query at most.")
@click.option("--only", default=None, help="Comma-separated queries (default: all).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON.")
def bench_graphql_path(sites: int, hours: float, repeats: int, budget: float, only: str | None,
                       out: Path | None) -> None:
    """What GraphQL costs over the store: each headline query and a one-hop read by the
    store path, GraphQL in process and over HTTP (the production app in process),
    side by side on a fleet built in this run."""
    from fleetgraph.bench import graphql_path
    from fleetgraph.bench.machine import describe
    from fleetgraph.core.clock import minute_floor_us, wall_clock_us

    results = graphql_path.run(
        sites, hours, minute_floor_us(wall_clock_us()), repeats=repeats, budget_s=budget,
        only=tuple(o.strip() for o in only.split(",")) if only else None)
    results = {"machine": describe(), **results}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
    click.echo(graphql_path.table(results))


@click.command("backfill")
@click.option("--sizes", default="1e5,1e6", show_default=True,
              help="Sizes backfilled (bench workloads: about 1e5, 1e6, 1e7 stored edges).")
@click.option("--sample", default=20_000, show_default=True,
              help="Messages of the first size run through the driver path and the "
                   "backfill both (the ratio).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON.")
@click.pass_context
def bench_backfill(ctx: click.Context, sizes: str, sample: int, out: Path | None) -> None:
    """The bulk backfill into the running Cassandra (SSTables, imported): events/s,
    rows/s and CPU seconds of both processes per size, and its ratio to the driver
    path on a sample measured in the same run."""
    from fleetgraph.bench import backfill

    measures = backfill.run(_settings(ctx), [s.strip() for s in sizes.split(",")], sample, out)
    click.echo(backfill.table(measures))


BENCH_COMMANDS = (bench_kafka, bench_hotpath, bench_steady_memory, bench_report,
                  bench_guard_cost, bench_startup, bench_graphql_path,
                  bench_backfill)
