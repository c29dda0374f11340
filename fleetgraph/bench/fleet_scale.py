"""The full fleet on the embedded store: simulate it into an event log, ingest the log
the way ``fleetgraph ingest`` does (the same pipeline, the read models kept as events
arrive), then time the headline queries on it.

``fleetgraph bench`` holds a size's messages, its pipeline's writes (for the raw
SQLite baseline) and a networkx graph in memory at once: fine at 10^6 edges, not at
10^7 on a 24 GiB machine. Here everything streams: the simulator writes the log, the
ingest reads it (twice: side inputs first), and nothing is compared with networkx
(the oracle tests check the same queries on smaller fleets; the per-answer-row cost
beside each figure shows whether a read's cost follows its answer).

The work directory keeps the log and the store between runs (``--work``): a second
run with the same fleet only queries.

``--store cassandra`` (or ``both``) times the same queries on the same ids on the
local Cassandra (the stack's settings, FLEETGRAPH_CASSANDRA_*): the work dir's
store is copied there first by the bulk copy (``fleetgraph backfill --from-store``,
storage/copy.py: SSTables, imported; keyspace prefix ``fs<hash of the work dir>_``),
unless ``fleet.json`` says the copy is there already; then the read models as of the
fleet's end (site states, replicas) are computed from the work dir's store and written
there (storage/copy.py ``copy_read_models``, as the copy does; a rebuild through
Cassandra's driver read the whole fleet back: 687 s at 1e6). The copy's time, rows
and CPU seconds (this process and the SSTable writer) go into the JSON beside the
figures. With ``--store cassandra`` the work dir's store is only read (opened with
``schema="check"``).

    python -m fleetgraph.bench.fleet_scale --sites 1000 --hours 168 --jobs 2 \\
        --work /var/tmp/fleet1e7 --out docs/benchmarks/fleet-1e7.json
    python -m fleetgraph.bench.fleet_scale --sites 1000 --hours 168 --jobs 2 \\
        --work /var/tmp/fleet1e7 --store cassandra --out fleet-1e7-cassandra.json
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from itertools import islice
from pathlib import Path
from typing import Any

import click

from fleetgraph.bench import queries
from fleetgraph.bench.machine import describe, peak_rss_mib
from fleetgraph.bench.run import cases_for, placement_ratio, rebuild_read_models
from fleetgraph.core.clock import minute_floor_us, wall_clock_us
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterFile
from fleetgraph.ingest.embedded import ingest_into_store, store_pipeline
from fleetgraph.ingest.read_models.maintain import SiteStateMaintainer
from fleetgraph.ingest.read_models.model_sites import ModelSitesMaintainer
from fleetgraph.ingest.read_models.replicas import ReplicaMaintainer
from fleetgraph.ingest.read_models.residency import ResidencyMaintainer
from fleetgraph.ingest.read_models.site_order import SITE_ORDER
from fleetgraph.ingest.read_models.site_state import SITE_FREE_GPUS, SITE_STATE
from fleetgraph.ingest.sources.eventlog import read_event_log, write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.base import Direction, GraphStore, SchemaMode
from fleetgraph.storage.delegating import DelegatingStore
from fleetgraph.storage.embedded import SQLiteGraphStore

SAMPLES = 50  # ids per query kind
STORES = ("embedded", "cassandra", "both")
PROGRESS_ROWS = 1_000_000  # a progress line every this many records copied
CHECKED = 10  # ids per query case whose Cassandra answer is compared with the embedded one
CHECKED_PLACEMENT = 4  # placement's: the embedded side computes every site (seconds a call)
WRITER_HEAP = "4g"  # the SSTable writer's: at 1000 sites 2 GiB spent half its CPU in GC


def cpu_s() -> float:
    """This process's CPU time (user and system), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def simulate(config: SimulationConfig, log: Path) -> dict[str, Any]:
    """Write the fleet's messages to ``log``; the count and the time it took."""
    codec = load_event_codec()
    cpu, wall = cpu_s(), time.perf_counter()
    count = write_event_log(log, ((str(t), p) for t, p, _ in simulate_messages(config, codec)))
    return {"messages": count, "seconds": round(time.perf_counter() - wall, 1),
            "cpu_s": round(cpu_s() - cpu, 1)}


def ingest(log: Path, db: Path, work: Path) -> dict[str, Any]:
    """Ingest ``log`` into a fresh store at ``db`` as ``fleetgraph ingest`` does."""
    settings = Settings(data_dir=work)
    store = SQLiteGraphStore(FLEET, db)
    dead_letters = DeadLetterFile(settings.dead_letter_path)
    cpu, wall = cpu_s(), time.perf_counter()
    try:
        pipeline = store_pipeline(settings, store, dead_letters)
        report = ingest_into_store(pipeline, store, lambda: read_event_log(log))
    finally:
        dead_letters.close()
        store.close()
    seconds, cpu = time.perf_counter() - wall, cpu_s() - cpu
    events = report.stats.received
    return {"events": events, "seconds": round(seconds, 1), "cpu_s": round(cpu, 1),
            "events_per_cpu_s": round(events / cpu) if events and cpu else None,
            "writes": report.stats.written, "dead_lettered": report.stats.dead_lettered,
            "store_mib": round(db.stat().st_size / 2**20)}


def first_ids(store: SQLiteGraphStore, node_type: str, prefix: str = "") -> Iterator[str]:
    """The ids of a node type in id order (those starting with ``prefix``)."""
    after: str | None = None
    while True:
        page = store.scan_nodes(node_type, after, 1000)
        yield from (r.id for r in page.records if r.id.startswith(prefix))
        if page.next_after is None:
            return
        after = page.next_after


def picked_ids(store: SQLiteGraphStore) -> dict[str, list[str]]:
    """The query ids, from the store: components with a fault (``had_fault`` into the
    first faults), models, the first artifacts and datasets."""
    faults = list(islice(first_ids(store, "fault"), 4 * SAMPLES))
    had = store.neighbours("had_fault", faults, Direction.IN) if faults else {}
    faulted = sorted({e.from_id for edges in had.values() for e in edges})[:SAMPLES]
    return {"faulted": faulted, "models": list(islice(first_ids(store, "model"), SAMPLES)),
            "artifacts": list(islice(first_ids(store, "artifact"), SAMPLES)),
            "datasets": list(islice(first_ids(store, "dataset"), SAMPLES))}


def cassandra_prefix(work: Path) -> str:
    """The work dir's keyspace prefix: ``fs`` and a hash of its absolute path."""
    return f"fs{hashlib.sha256(str(work.resolve()).encode()).hexdigest()[:6]}_"


def cassandra_settings(work: Path) -> Settings:
    """The environment's settings, on the work dir's keyspace prefix."""
    return Settings.from_environ().updated(
        store={"cassandra": {"keyspace_prefix": cassandra_prefix(work)}})


def copy_to_cassandra(settings: Settings, db: Path, work: Path) -> dict[str, Any]:
    """The embedded store at ``db`` into the Cassandra store of ``settings`` (bulk copy)."""
    from fleetgraph.infra.bulk import bulk_tools
    from fleetgraph.storage.copy import copy_embedded

    tools = bulk_tools(settings.stack, heap=WRITER_HEAP)
    seen = [0, 0]
    started = time.perf_counter()

    def progress(rows: int) -> None:
        seen[0] += rows
        if seen[0] - seen[1] >= PROGRESS_ROWS:
            seen[1] = seen[0]
            elapsed = time.perf_counter() - started
            click.echo(f"  {seen[0]:,} records read in {elapsed:.0f} s "
                       f"({seen[0] / elapsed:,.0f}/s, CPU {cpu_s():.0f} s)", err=True)

    report = copy_embedded(db, settings.store, tools=tools, work_dir=work / "sstables",
                           on_rows=progress)
    load = report.load
    seconds = report.seconds
    return {"keyspace_prefix": settings.store.cassandra.keyspace_prefix,
            "records": report.records, "history_writes": report.history_writes,
            "rows": load.rows, "tables": load.tables, "sstables": load.sstables,
            "seconds": round(seconds, 1),
            "rows_per_s": round(load.rows / seconds) if seconds else None,
            "records_per_s": round(report.records / seconds) if seconds else None,
            "writer_seconds": round(load.write_seconds, 1),
            "import_seconds": round(load.import_seconds, 1),
            "cpu_python_s": round(report.cpu_seconds, 1),
            "cpu_writer_s": round(load.helper_cpu_seconds, 1),
            "python_cpu_us_per_row": round(report.cpu_seconds / load.rows * 1e6, 2)
            if load.rows else None,
            "writer_cpu_us_per_row": round(load.helper_cpu_seconds / load.rows * 1e6, 2)
            if load.rows else None}


def open_cassandra(settings: Settings, now_us: int, schema: SchemaMode = "check"
                   ) -> GraphStore:
    from fleetgraph.storage.cassandra import CassandraGraphStore

    return CassandraGraphStore(FLEET, settings.store.cassandra, schema=schema,
                               clock=lambda: now_us)


def copied(settings: Settings, now_us: int) -> bool:
    """Whether the prefix holds a graph (a site) already; its schema brought up to the
    registry's first (``fleetgraph storage init``: a table added since the copy)."""
    from fleetgraph.storage.base import StorageError

    try:
        store = open_cassandra(settings, now_us, schema="init")
    except StorageError:
        return False
    try:
        return bool(store.scan_nodes("site", None, 1).records)
    finally:
        store.close()


class SiteStatesHidden(DelegatingStore):
    """A store without its site-state rows and site order: placement at now computes
    every site from the graph (the definition, as the directory is missing) as of the
    query's clock."""

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        if model in (SITE_STATE, SITE_FREE_GPUS, SITE_ORDER):
            return {}
        return self.inner.get_read_models(model, keys)


def sampled_check(embedded: GraphStore, cassandra: GraphStore,
                  cases: list[queries.QueryCase], now_us: int) -> dict[str, Any]:
    """The answers of the first ``CHECKED`` ids of each case (``CHECKED_PLACEMENT`` of
    placement's) through GraphQL on Cassandra and on the embedded store, the same
    query, variables and clock: where networkx cannot hold the full fleet, the embedded
    store is the reference (its own oracle tests hold on smaller fleets). The embedded
    side computes placement from the graph (:class:`SiteStatesHidden`), so the copy's
    read models are checked too. Per case: answers checked, equal, their rows, and the
    variables of the first that differ; a query that fails is counted (and its error
    kept), not raised, so that the timings already taken are written."""
    graphql = queries.InProcessGraphQL(now_us)
    reference = SiteStatesHidden(embedded)

    checked: dict[str, Any] = {}
    try:
        for case in cases:
            limit = CHECKED_PLACEMENT if case.name.startswith("placement") else CHECKED
            picked = case.variables[:limit]
            differing, failed, rows = [], [], 0
            for variables in picked:
                try:
                    got = graphql.answer(cassandra, case.query, variables)
                    want = graphql.answer(reference, case.query, variables)
                except Exception as exc:  # kept in the figures, not fatal
                    failed.append(f"{variables}: {exc}"[:500])
                    continue
                rows += queries.answer_rows(got)
                if got != want:
                    differing.append(variables)
            checked[case.name] = {"checked": len(picked) - len(failed),
                                  "equal": len(picked) - len(failed) - len(differing),
                                  "answer_rows": rows, "first_differing": differing[:3],
                                  "failed": len(failed), "first_failures": failed[:2]}
    finally:
        graphql.close()
    return checked


def cassandra_queries(meta: dict[str, Any], meta_path: Path, db: Path, work: Path,
                      cases: list[queries.QueryCase], now_us: int, repeats: int,
                      budget_s: float) -> dict[str, Any]:
    """The copy into Cassandra (unless ``meta`` says it is there), the site states
    computed from ``db`` as of ``now_us`` and written there, and the queries timed."""
    from fleetgraph.storage.copy import copy_read_models

    settings = cassandra_settings(work)
    kept = meta.get("cassandra")  # dropped when the store is ingested anew
    if kept is None or kept.get("keyspace_prefix") != settings.store.cassandra.keyspace_prefix \
            or not copied(settings, now_us):
        click.echo(f"copying {db} into Cassandra ({settings.store.cassandra.keyspace_prefix}*, "
                   f"{settings.store.cassandra.hosts}:{settings.store.cassandra.port}) ...",
                   err=True)
        kept = copy_to_cassandra(settings, db, work)
        meta["cassandra"] = kept
        meta_path.write_text(json.dumps(meta, indent=1))
    result: dict[str, Any] = {"load": kept}
    click.echo("computing the read models from the embedded store into Cassandra ...",
               err=True)
    result["read_model_copy_s"] = {  # each computed from db and written to Cassandra
        "site_state": round(copy_read_models(
            db, settings.store, lambda store: SiteStateMaintainer(store, lambda: now_us).rebuild(),
            clock=lambda: now_us), 3),
        "replicas": round(copy_read_models(
            db, settings.store, lambda store: ReplicaMaintainer(store, lambda: now_us).rebuild(),
            clock=lambda: now_us), 3),
        "residency": round(copy_read_models(
            db, settings.store,
            lambda store: ResidencyMaintainer(store, lambda: now_us).rebuild(),
            clock=lambda: now_us), 3),
        "model_sites": round(copy_read_models(
            db, settings.store,
            lambda store: ModelSitesMaintainer(store, lambda: now_us).rebuild(),
            clock=lambda: now_us), 3)}
    store = open_cassandra(settings, now_us)
    try:
        click.echo("querying Cassandra ...", err=True)
        result["queries"] = queries.measure(store, cases, None, now_us, repeats,
                                            baseline=False, budget_s=budget_s)
        result["placement_vs_reference"] = placement_ratio(result["queries"])
        click.echo("checking sampled answers against the embedded store ...", err=True)
        embedded = SQLiteGraphStore(FLEET, db, schema="check", clock=lambda: now_us)
        try:
            result["sampled_check"] = sampled_check(embedded, store, cases, now_us)
        finally:
            embedded.close()
    finally:
        store.close()
    return result


def run(config: SimulationConfig, work: Path, repeats: int, budget_s: float,
        stores: str = "embedded", skip: tuple[str, ...] = ()) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    meta_path, log, db = work / "fleet.json", work / "events.avro", work / "graph.sqlite"
    # as JSON gives it back (tuples become lists), to compare with the kept one
    wanted = json.loads(json.dumps({k: v for k, v in asdict(config).items()
                                    if k != "end_time_us"}))
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if meta.get("config") != wanted:
        meta = {"config": wanted, "now_us": config.end_time_us}
        db.unlink(missing_ok=True)
    now_us = int(meta["now_us"])
    result: dict[str, Any] = {"machine": describe(), "fleet": wanted, "now_us": now_us}
    if "simulate" not in meta:
        click.echo(f"simulating {config.sites} sites, {config.hours:g} h into {log} ...",
                   err=True)
        meta["simulate"] = simulate(replace(config, end_time_us=now_us), log)
        meta_path.write_text(json.dumps(meta, indent=1))
    result["simulate"] = meta["simulate"]
    if "ingest" not in meta or not db.exists():
        click.echo(f"ingesting {meta['simulate']['messages']:,} messages ...", err=True)
        meta["ingest"] = ingest(log, db, work)
        meta.pop("cassandra", None)
        meta_path.write_text(json.dumps(meta, indent=1))
    result["ingest"] = meta["ingest"]
    # on the fleet's now, as Cassandra's store below: a kept fleet is older than the wall
    # clock, and rows computed or queried through a store on the wall clock would see its
    # live edges expired (rows that hold forever here, and a month on Cassandra)
    # its page cache as a server's (FLEETGRAPH_SQLITE_CACHE_MIB), which the JSON says
    cache_mib = Settings.from_environ().store.embedded.cache_mib
    result["sqlite_cache_mib"] = cache_mib
    store = SQLiteGraphStore(FLEET, db, schema="check" if stores == "cassandra" else "init",
                             clock=lambda: now_us, cache_mib=cache_mib)
    result["stored_edges"] = sum(store.count(f"edge_{e}") for e in FLEET.edges)
    result["stored_nodes"] = sum(store.count(f"node_{n}") for n in FLEET.nodes)
    click.echo(f"{result['stored_edges']:,} edges; picking ids ...", err=True)
    ids = picked_ids(store)
    result["ids"] = {k: len(v) for k, v in ids.items()}
    cases = [c for c in cases_for(ids["faulted"], ids["models"], ids["artifacts"],
                                  ids["datasets"], now_us) if c.name not in skip]
    result["skipped"] = sorted(skip)
    if stores in ("embedded", "both"):
        # as of the fleet's end (the ingest kept them as of the wall clock when it ran)
        result["read_model_rebuild_s"] = rebuild_read_models(store, now_us)
        click.echo("querying the embedded store ...", err=True)
        measured = queries.measure(store, cases, None, now_us, repeats, baseline=False,
                                   budget_s=budget_s)
        result["queries_embedded"] = measured
        result["placement_vs_reference"] = placement_ratio(measured)
    store.close()
    if stores in ("cassandra", "both"):
        result["cassandra"] = cassandra_queries(meta, meta_path, db, work, cases, now_us,
                                                repeats, budget_s)
    result["bench_peak_rss_mib"] = round(peak_rss_mib(), 1)
    result["machine"]["load_average_end"] = describe()["load_average"]
    return result


def print_queries(title: str, measured: dict[str, Any]) -> None:
    click.echo(title)
    for name, q in measured.items():
        click.echo(f"  {name:<20} p50 {q['p50_ms']:>9} ms  p99 {q['p99_ms']:>9} ms  "
                   f"rows {q['answer_rows_mean']:>8}  {q['p50_us_per_answer_row']} us/row")


@click.command()
@click.option("--sites", type=int, default=1000, show_default=True)
@click.option("--hours", type=float, default=168.0, show_default=True)
@click.option("--jobs", type=float, default=2.0, show_default=True,
              help="jobs started per site per hour")
@click.option("--work", type=click.Path(path_type=Path), required=True,
              help="keeps the event log and the store between runs")
@click.option("--store", "stores", type=click.Choice(STORES), default="embedded",
              show_default=True,
              help="where the queries are timed: cassandra copies the work dir's store into "
                   "the local Cassandra first (once), with the bulk copy")
@click.option("--skip", multiple=True,
              help="leave this query case out (repeatable), e.g. placement_reference, which "
                   "reads the whole fleet on every call")
@click.option("--repeats", type=int, default=500, show_default=True)
@click.option("--budget", type=float, default=30.0, show_default=True,
              help="seconds per query at most (after 3 runs)")
@click.option("--out", type=click.Path(path_type=Path), required=True)
def main(sites: int, hours: float, jobs: float, work: Path, stores: str,
         skip: tuple[str, ...], repeats: int, budget: float, out: Path) -> None:
    """Simulate, ingest and query a fleet of SITES sites on the embedded store (and/or
    on Cassandra: --store)."""
    config = SimulationConfig(seed=17, sites=sites, hours=hours,
                              end_time_us=minute_floor_us(wall_clock_us()),
                              jobs_per_site_per_hour=jobs, telemetry_interval_s=900,
                              malformed_rate=0.0)
    result = run(config, work, repeats, budget, stores, skip)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    click.echo(f"{result['stored_edges']:,} edges, {result['stored_nodes']:,} nodes; "
               f"ingest {result['ingest']['events_per_cpu_s']} events/CPU-s")
    if "queries_embedded" in result:
        print_queries("embedded:", result["queries_embedded"])
    if "cassandra" in result:
        load = result["cassandra"]["load"]
        click.echo(f"copied into Cassandra: {load['rows']:,} rows in {load['seconds']} s "
                   f"({load['rows_per_s']:,} rows/s; CPU s: python {load['cpu_python_s']}, "
                   f"writer {load['cpu_writer_s']})")
        print_queries("cassandra:", result["cassandra"]["queries"])
        for name, c in result["cassandra"].get("sampled_check", {}).items():
            click.echo(f"  {name:<20} {c['equal']}/{c['checked']} answers equal to the "
                       f"embedded store's ({c['answer_rows']} rows, {c['failed']} failed)")
    click.echo(f"JSON: {out}")


if __name__ == "__main__":
    main()
