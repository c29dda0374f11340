"""Run the benchmark profiles and report."""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from fleetgraph.bench import (
    cassandra_queries,
    freshness,
    ingest,
    memory,
    queries,
    stack,
    stack_ingest,
    steady_memory,
    targets,
    workload,
)
from fleetgraph.bench.machine import describe, peak_rss_mib
from fleetgraph.core.clock import minute_floor_us, wall_clock_us
from fleetgraph.core.units import HOUR_US
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.read_models import maintain as read_models
from fleetgraph.settings import Settings
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.embedded import SQLiteGraphStore

AFFECTED = """query($id: ID!) { affectedJobs(componentId: $id) {
  truncated items { jobId faultId serverId rackId siteId overlapFrom overlapTo } } }"""
HOTNESS = """query($id: ID!, $from: DateTime, $to: DateTime) {
  modelHotness(modelId: $id, window: {from: $from, to: $to}) {
    siteId score replicas { artifactId tier lastAccess hits score } } }"""


BLAST = """query($id: ID!, $at: DateTime) { blastRadius(componentId: $id, at: $at) {
  truncated alreadyInFault items { id impact dependency path } jobs { jobId impact } } }"""
PLACEMENT = """query($r: PlacementInput!) { placement(request: $r) {
  candidates(first: 10) { siteId score freeGpuCount parts { gpu health model data energy } }
  excluded { siteId reasons { code } } } }"""
# what a scheduler asks: the best candidates, their GPUs to claim, no excluded list
PLACEMENT_CANDIDATES = """query($r: PlacementInput!) { placement(request: $r) {
  candidates(first: 10) { siteId score freeGpuCount parts { gpu health model data energy }
  freeGpus { serverId gpuIds } } } }"""
LINEAGE = """query($id: ID!) { lineage(id: $id, direction: UP, depth: 4) {
  truncated nodes { id distance } edges { type fromId toId } } }"""
RESIDENCY = """query($id: ID!, $allowed: [String!]!) { dataResidency(datasetId: $id,
  allowed: $allowed) { truncated itemIds violations { itemId siteId jurisdiction jobIds held }
  places { itemId siteId jurisdiction jobIds held } } }"""
RESIDENCY_ALLOWED = ["eu-de", "eu-fr", "eu-ie", "eu-nl"]  # the simulated fleet's EU sites
# the bounded forms, timed beside the full answers (docs/queries.md)
HOTNESS_FIRST = HOTNESS.replace("to: $to}) {", "to: $to}, first: 10) {")
RESIDENCY_SUMMARY = """query($id: ID!, $allowed: [String!]!) {
  dataResidencySummary(datasetId: $id, allowed: $allowed, first: 20) {
  truncated itemCount placeCount violationCount nextAfter jurisdictions { jurisdiction
  allowed siteCount itemCount placeCount processedCount heldCount }
  places { itemId siteId jurisdiction jobIds held } } }"""


def _iso(us: int) -> str:
    from fleetgraph.serving.times import to_datetime

    value = to_datetime(us)
    assert value is not None
    return value.isoformat()


def cases(events: list[tuple[str, dict[str, Any]]], now_us: int) -> list[queries.QueryCase]:
    """The timed queries on ids picked from the events (the components that had a
    fault, every model, the first 50 artifacts and datasets registered)."""
    faulted = sorted({e["component_id"] for t, e in events
                      if t == "telemetry" and e["kind"] == "status" and e.get("fault_id")})
    models = sorted({e["artifact_id"] for t, e in events
                     if t == "artifacts" and e["artifact_id"].startswith("model:")})
    artifacts = sorted({e["artifact_id"] for t, e in events if t == "artifacts"
                        and e["kind"] == "registered"
                        and e["artifact_id"].startswith("artifact:")})[:50]
    datasets = sorted({e["artifact_id"] for t, e in events if t == "artifacts"
                       and e["kind"] == "registered"
                       and e["artifact_id"].startswith("dataset:")})[:50]
    return cases_for(faulted, models, artifacts, datasets, now_us)


def cases_for(faulted: list[str], models: list[str], artifacts: list[str],
              datasets: list[str], now_us: int) -> list[queries.QueryCase]:
    """The timed queries on these ids, each with its networkx reference."""
    _, oracle = queries.oracle()
    import fleetgraph.bench.reference.audit as audit
    import fleetgraph.bench.reference.incidents as incidents
    import fleetgraph.bench.reference.scheduling as scheduling

    since, at = now_us - 24 * HOUR_US, now_us - HOUR_US
    return [
        queries.QueryCase("affectedJobs", AFFECTED, [{"id": c} for c in faulted],
                          lambda g, v: oracle.affected_jobs(g, v["id"])),
        queries.QueryCase("modelHotness", HOTNESS,
                          [{"id": m, "from": _iso(since), "to": _iso(now_us)} for m in models],
                          lambda g, v: oracle.model_hotness(g, v["id"], since, now_us)),
        # bounded: the 10 hottest sites (every replica still read and scored)
        queries.QueryCase("modelHotness_first10", HOTNESS_FIRST,
                          [{"id": m, "from": _iso(since), "to": _iso(now_us)} for m in models],
                          lambda g, v: oracle.model_hotness(g, v["id"], since, now_us)[:10]),
        queries.QueryCase("blastRadius", BLAST,
                          [{"id": c, "at": _iso(at)} for c in faulted],
                          lambda g, v: incidents.blast_radius(g, v["id"], at)),
        # at now: the site-state read model (rebuilt after the ingest, as of now_us)
        queries.QueryCase("placement", PLACEMENT,
                          [{"r": {"gpus": n, "modelId": m}}
                           for n in (8, 64) for m in models[:5]],
                          lambda g, v: scheduling.placement(
                              g, v["r"]["gpus"], now_us, model_id=v["r"]["modelId"])),
        # bounded: the 10 best candidates with the GPUs to claim, no excluded sites
        queries.QueryCase("placement_candidates10", PLACEMENT_CANDIDATES,
                          [{"r": {"gpus": n, "modelId": m}}
                           for n in (8, 64) for m in models[:5]],
                          lambda g, v: scheduling.placement(
                              g, v["r"]["gpus"], now_us, model_id=v["r"]["modelId"])),
        # the same answers with 'at' given: the whole fleet read (the definition)
        queries.QueryCase("placement_reference", PLACEMENT,
                          [{"r": {"gpus": n, "modelId": m, "at": _iso(now_us)}}
                           for n in (8, 64) for m in models[:5]],
                          lambda g, v: scheduling.placement(
                              g, v["r"]["gpus"], now_us, model_id=v["r"]["modelId"])),
        queries.QueryCase("lineage", LINEAGE, [{"id": a} for a in artifacts],
                          lambda g, v: audit.lineage(g, v["id"], "UP", 4)),
        queries.QueryCase("dataResidency", RESIDENCY,
                          [{"id": d, "allowed": RESIDENCY_ALLOWED} for d in datasets],
                          lambda g, v: audit.data_residency(g, v["id"], v["allowed"])),
        # bounded: counts, per jurisdiction, the first 20 violations (networkx: the
        # full answer, which the counts need)
        queries.QueryCase("dataResidencySummary_first20", RESIDENCY_SUMMARY,
                          [{"id": d, "allowed": RESIDENCY_ALLOWED} for d in datasets],
                          lambda g, v: audit.data_residency(g, v["id"], v["allowed"])),
    ]


FULL_SIZES = ("1e5", "1e6")
QUERY_BUDGET_S = 30.0  # per query and backend: stop after this long (at least 3 runs)
QUICK_REPEATS = 200
QUICK_BUDGET_S = 4.0  # the quick profile stays under 2 minutes with placement at ~0.5 s
GRAPHQL_PATH_BUDGET_S = 2.0  # per query, three paths interleaved: ~20 s in all
# loading Cassandra runs at 2,500-10,000 statements/s here: 10^6 edges (~7M statements)
# take 15-45 min, so only on request (--cassandra-sizes)
CASSANDRA_SIZES = ("1e5",)


@dataclass(frozen=True)
class Options:
    """What a profile runs. ``quick``: embedded only at 1e5, under two minutes."""

    profile: str = "full"
    sizes: tuple[str, ...] = FULL_SIZES
    stack: bool = True
    windows: tuple[float, ...] | None = None  # dedup windows for freshness (None: settings')
    cassandra_sizes: tuple[str, ...] = CASSANDRA_SIZES  # sizes also queried on Cassandra
    queries_only: bool = False  # no real-stack ingest, freshness or memory parts
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def quick(cls) -> Options:
        return cls(profile="quick", sizes=("1e5",), stack=False)


def run(profile: str | Options, out: Path) -> dict[str, Any]:
    """Run a profile, writing the JSON to ``out`` after each part (partial results survive).
    Reports figures and targets; never fails on a missed target."""
    options = Options.quick() if profile == "quick" else (
        profile if isinstance(profile, Options) else Options())
    quick = options.profile == "quick"
    now_us = minute_floor_us(wall_clock_us())
    repeats = QUICK_REPEATS if quick else 500
    results: dict[str, Any] = {"profile": options.profile, "machine": describe(), "sizes": {},
                               "commands": {"bench": "fleetgraph bench" + (
                                   " --quick" if quick else "")}}
    if options.stack:
        results["stack"] = stack.require_stack(options.settings)

    def save() -> None:
        results["targets"] = targets.evaluate(results)
        results["machine"]["load_average_end"] = os.getloadavg()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(options.sizes):
            entry, path, size_cases = _size(name, now_us, repeats, Path(tmp))
            results["sizes"][name] = entry
            save()
            if quick and i == 0:
                click.echo(f"[{name}] graphql-path: store, GraphQL, HTTP ...", err=True)
                _part(results, "graphql_path", functools.partial(_graphql_path, name, path, now_us))
                save()
            if options.stack and name in options.cassandra_sizes:
                _part(entry, "queries_cassandra", functools.partial(
                    cassandra_queries.run, options.settings, path, size_cases, now_us,
                    repeats=200, budget_s=QUERY_BUDGET_S, label=name))
                save()
            path.unlink(missing_ok=True)
            if i == 0 and options.stack and not options.queries_only:  # before larger sizes
                _stack_parts(results, options, now_us)
                save()
    if not options.queries_only:
        click.echo("[memory] embedded ingest RSS, stream x1 and x10 ...", err=True)
        results["memory_embedded"] = memory.flatness(8, 2.0 if quick else 6.0, now_us)
    results["bench_peak_rss_mib"] = round(peak_rss_mib(), 1)
    save()
    return results


def _graphql_path(size: str, path: Path, now_us: int) -> dict[str, Any]:
    """The GraphQL layer's cost over the store (fleetgraph bench graphql-path) on this
    size's store, within about 20 s."""
    from fleetgraph.bench import graphql_path

    return {"size": size, **graphql_path.measure_file(
        path, now_us, repeats=QUICK_REPEATS, budget_s=GRAPHQL_PATH_BUDGET_S)}


def _stack_parts(results: dict[str, Any], options: Options, now_us: int) -> None:
    _part(results, "stack_ingest", lambda: stack_ingest.run(options.settings, 8, 8.0, now_us))
    windows = list(options.windows or (options.settings.ingest.dedup_window_s, 1.0))
    _part(results, "freshness", lambda: freshness.run(options.settings, windows, now_us))
    _part(results, "steady_memory", lambda: steady_memory.run(options.settings, 500.0, 30.0))


def _part(results: dict[str, Any], name: str, measure: Callable[[], Any]) -> None:
    """One part of the profile; a failure is reported in the JSON, not raised."""
    try:
        results[name] = measure()
    except Exception as exc:  # a benchmark reports, it does not stop
        click.echo(f"[{name}] failed: {exc}", err=True)
        results[name] = {"error": f"{type(exc).__name__}: {exc}"[:4000]}


def _size(name: str, now_us: int, repeats: int, tmp: Path
          ) -> tuple[dict[str, Any], Path, list[queries.QueryCase]]:
    """Embedded ingest, networkx and embedded queries at one size; the store stays at
    the returned path for the Cassandra part."""
    size = workload.size(name, now_us)
    click.echo(f"[{name}] simulating {size.config.sites} sites, "
               f"{size.config.hours:g} h ...", err=True)
    messages = workload.messages(size.config)
    click.echo(f"[{name}] ingesting {len(messages):,} messages ...", err=True)
    path = tmp / f"{name}.sqlite"
    entry: dict[str, Any] = {"ingest_embedded": ingest.run_pipeline(messages, path, now_us)}
    store = SQLiteGraphStore(FLEET, path, clock=lambda: now_us)  # the fleet's now
    entry["stored_edges"] = sum(store.count(f"edge_{e}") for e in FLEET.edges)
    entry["read_model_rebuild_s"] = rebuild_read_models(store, now_us)
    click.echo(f"[{name}] {entry['stored_edges']:,} edges; building networkx ...", err=True)
    graph_module, _ = queries.oracle()
    events = queries.clean_events(messages)
    del messages
    started = time.perf_counter()
    graph = graph_module.build_graph(events)
    entry["networkx_build_s"] = round(time.perf_counter() - started, 1)
    click.echo(f"[{name}] querying ...", err=True)
    size_cases = cases(events, now_us)
    del events
    budget = QUICK_BUDGET_S if repeats <= QUICK_REPEATS else QUERY_BUDGET_S
    entry["queries_embedded"] = queries.measure(store, size_cases, graph, now_us, repeats,
                                                budget_s=budget)
    entry["placement_vs_reference"] = placement_ratio(entry["queries_embedded"])
    store.close()
    del graph
    return entry, path, size_cases


def rebuild_read_models(store: GraphStore, now_us: int) -> float:
    """Seconds to compute the read models of the whole store as of ``now_us`` (the site
    states and the replicas: what the pipeline keeps; the bench's ingest writes the
    graph only)."""
    started = time.perf_counter()
    read_models.rebuild_read_models(store, lambda: now_us)
    return round(time.perf_counter() - started, 3)


def placement_ratio(measured: dict[str, Any]) -> dict[str, Any]:
    """placement at now (read model) next to the same answers read from the whole fleet."""
    new, old = measured.get("placement"), measured.get("placement_reference")
    if not new or not old:
        return {}
    return {"placement_p50_ms": new["p50_ms"], "placement_p99_ms": new["p99_ms"],
            "placement_reference_p50_ms": old["p50_ms"],
            "placement_reference_p99_ms": old["p99_ms"],
            "reference_over_read_model_p99": round(old["p99_ms"] / new["p99_ms"], 1)
            if new["p99_ms"] else None}


def table(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [f"fleetgraph bench ({results['profile']}) on {machine['cpus']} cpus, "
             f"{machine['memory_gib']} GiB, load {machine['load_average']}"]
    for name, entry in results["sizes"].items():
        i = entry["ingest_embedded"]
        lines.append(f"\n[{name}: {entry['stored_edges']:,} edges] ingest embedded: "
                     f"{i['events_per_s']:,} events/s "
                     f"({i['events']:,} events in {i['seconds']} s); "
                     f"raw SQLite baseline {i['baseline_events_per_s']:,} events/s; "
                     f"ratio {i['ratio_to_baseline']}")
        cassandra = (entry.get("queries_cassandra") or {}).get("queries", {})
        lines.append(f"  {'query':<20}{'p50 ms':>9}{'p99 ms':>9}{'nx p50':>9}{'nx p99':>9}"
                     f"{'rows':>8}{'us/row':>8}"
                     + (f"{'cas p50':>9}{'cas p99':>9}" if cassandra else ""))
        for query, q in entry["queries_embedded"].items():
            c = cassandra.get(query)
            lines.append(f"  {query:<20}{q['p50_ms']:>9}{q['p99_ms']:>9}"
                         f"{q['networkx_p50_ms']:>9}{q['networkx_p99_ms']:>9}"
                         f"{q.get('answer_rows_mean', ''):>8}"
                         f"{q.get('p50_us_per_answer_row') or '':>8}"
                         + (f"{c['p50_ms']:>9}{c['p99_ms']:>9}" if c else ""))
        ratio = entry.get("placement_vs_reference") or {}
        if ratio:
            lines.append(f"  placement at now (read model, rebuilt in "
                         f"{entry.get('read_model_rebuild_s')} s): p99 "
                         f"{ratio['placement_p99_ms']} ms; whole fleet (reference) p99 "
                         f"{ratio['placement_reference_p99_ms']} ms; ratio "
                         f"{ratio['reference_over_read_model_p99']}")
        if "error" in (entry.get("queries_cassandra") or {}):
            lines.append(f"  cassandra: {entry['queries_cassandra']['error'][:200]}")
    g = results.get("graphql_path")
    if g and "error" not in g:
        from fleetgraph.bench.graphql_path import table as graphql_path_table

        lines.append(f"\nGraphQL layer over the store ({g['size']}; ms: store, in process, "
                     "over HTTP):")
        lines.append(graphql_path_table(g))
    elif g:
        lines.append(f"\ngraphql-path: {g['error'][:300]}")
    s = results.get("stack_ingest")
    if s and "error" not in s:
        w = s["long"]["worker"]
        lines.append(f"\nKafka -> Faust -> Cassandra: {s['events_per_s']:,} events/s "
                     f"({w['events']:,} events, {w['upserts_stored']:,} upserts); driver "
                     f"baseline {s['baseline_events_per_s']:,} events/s; ratio "
                     f"{s['ratio_to_baseline']}; worker peak RSS "
                     f"{s['short']['worker']['peak_rss_mib']} -> {w['peak_rss_mib']} MiB "
                     f"on a 10x stream ({s['worker_rss_growth']:+.1%})")
    elif s:
        lines.append(f"\nKafka -> Faust -> Cassandra: {s['error'][:300]}")
    f = results.get("freshness")
    for r in (f or {}).get("runs", []):
        lines.append(f"freshness (dedup window {r['dedup_window_s']:g} s, background "
                     f"{r['background_rate']} msg/s): p50 {r['p50_ms']:,.0f} ms, p99 "
                     f"{r['p99_ms']:,.0f} ms over {r['runs']} probes ({r['lost']} lost); "
                     f"worker {r['worker_peak_rss_mib']} MiB, server "
                     f"{r['server_peak_rss_mib']} MiB peak RSS")
    if f and "error" in f:
        lines.append(f"freshness: {f['error'][:300]}")
    sm = results.get("steady_memory")
    if sm and "error" not in sm:
        lines.append(f"worker on a steady {sm['rate']:g} msg/s stream: peak RSS "
                     f"{sm['short']['worker_peak_rss_mib']} -> {sm['long']['worker_peak_rss_mib']}"
                     f" MiB when 10x longer ({sm['worker_rss_growth']:+.1%}); server "
                     f"{sm['short']['server_peak_rss_mib']} -> {sm['long']['server_peak_rss_mib']}"
                     f" MiB")
    elif sm:
        lines.append(f"steady-stream memory: {sm['error'][:300]}")
    m = results.get("memory_embedded")
    if m:
        lines.append(f"\nembedded ingest peak RSS: {m['short']['peak_rss_mib']} MiB for "
                     f"{m['short']['events']:,} events, {m['long']['peak_rss_mib']} MiB for "
                     f"{m['long']['events']:,} (growth {m['growth']:+.1%})")
    lines.append("\ntargets:")
    marks = {True: "met   ", False: "MISSED", None: "n/m   "}
    for row in results.get("targets", []):
        lines.append(f"  {marks[row['met']]} {row['target']}: {row['value']}")
    return "\n".join(lines)


def options(settings: Settings, sizes: str | None, skip_stack: bool, windows: str | None,
            cassandra_sizes: str | None = None, queries_only: bool = False) -> Options:
    """The full profile's options from the command line's strings."""
    return Options(sizes=_sizes(sizes, FULL_SIZES, "--sizes"), stack=not skip_stack,
                   settings=settings,
                   windows=tuple(float(w) for w in windows.split(",")) if windows else None,
                   cassandra_sizes=_sizes(cassandra_sizes, CASSANDRA_SIZES, "--cassandra-sizes"),
                   queries_only=queries_only)


def _sizes(text: str | None, default: tuple[str, ...], hint: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip()) if text else default
    unknown = [s for s in chosen if s not in workload.SIZES]
    if unknown:
        raise click.BadParameter(f"unknown size {unknown[0]!r} (one of "
                                 f"{', '.join(workload.SIZES)})", param_hint=hint)
    return chosen
