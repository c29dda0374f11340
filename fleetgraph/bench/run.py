"""Run the benchmark profiles and report."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from fleetgraph.bench import ingest, memory, queries, workload
from fleetgraph.bench.machine import describe, peak_rss_mib
from graph_model import FLEET
from storage.embedded import SQLiteGraphStore

HOUR_US = 3_600_000_000

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
LINEAGE = """query($id: ID!) { lineage(id: $id, direction: UP, depth: 4) {
  truncated nodes { id distance } edges { type fromId toId } } }"""


def _iso(us: int) -> str:
    from serving.times import to_datetime

    value = to_datetime(us)
    assert value is not None
    return value.isoformat()


def cases(events: list[tuple[str, dict[str, Any]]], now_us: int) -> list[queries.QueryCase]:
    _, oracle = queries.oracle()
    import tests.oracle.audit as audit
    import tests.oracle.incidents as incidents
    import tests.oracle.scheduling as scheduling

    faulted = sorted({e["component_id"] for t, e in events
                      if t == "telemetry" and e["kind"] == "status" and e.get("fault_id")})
    models = sorted({e["artifact_id"] for t, e in events
                     if t == "artifacts" and e["artifact_id"].startswith("model:")})
    artifacts = sorted({e["artifact_id"] for t, e in events if t == "artifacts"
                        and e["kind"] == "registered"
                        and e["artifact_id"].startswith("artifact:")})[:50]
    since, at = now_us - 24 * HOUR_US, now_us - HOUR_US
    return [
        queries.QueryCase("affectedJobs", AFFECTED, [{"id": c} for c in faulted],
                          lambda g, v: oracle.affected_jobs(g, v["id"])),
        queries.QueryCase("modelHotness", HOTNESS,
                          [{"id": m, "from": _iso(since), "to": _iso(now_us)} for m in models],
                          lambda g, v: oracle.model_hotness(g, v["id"], since, now_us)),
        queries.QueryCase("blastRadius", BLAST,
                          [{"id": c, "at": _iso(at)} for c in faulted],
                          lambda g, v: incidents.blast_radius(g, v["id"], at)),
        queries.QueryCase("placement", PLACEMENT,
                          [{"r": {"gpus": n, "modelId": m, "at": _iso(at)}}
                           for n in (8, 64) for m in models[:5]],
                          lambda g, v: scheduling.placement(
                              g, v["r"]["gpus"], at, model_id=v["r"]["modelId"])),
        queries.QueryCase("lineage", LINEAGE, [{"id": a} for a in artifacts],
                          lambda g, v: audit.lineage(g, v["id"], "UP", 4)),
    ]


def run(profile: str, out: Path) -> dict[str, Any]:
    now_us = (time.time_ns() // 1000) // 60_000_000 * 60_000_000
    sizes = ["1e5"] if profile == "quick" else ["1e5", "1e6"]
    repeats = 200 if profile == "quick" else 500
    results: dict[str, Any] = {"profile": profile, "machine": describe(), "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in sizes:
            size = workload.size(name, now_us)
            click.echo(f"[{name}] simulating {size.config.sites} sites, "
                       f"{size.config.hours:g} h ...", err=True)
            messages = workload.messages(size.config)
            click.echo(f"[{name}] ingesting {len(messages):,} messages ...", err=True)
            path = Path(tmp) / f"{name}.sqlite"
            entry: dict[str, Any] = {"ingest_embedded": ingest.run_pipeline(
                messages, path, now_us)}
            store = SQLiteGraphStore(FLEET, path)
            entry["stored_edges"] = sum(store.count(f"edge_{e}") for e in FLEET.edges)
            click.echo(f"[{name}] {entry['stored_edges']:,} edges; building networkx ...",
                       err=True)
            graph_module, _ = queries.oracle()
            events = queries.clean_events(messages)
            del messages
            graph = graph_module.build_graph(events)
            click.echo(f"[{name}] querying ...", err=True)
            entry["queries_embedded"] = queries.measure(
                store, cases(events, now_us), graph, now_us, repeats)
            store.close()
            results["sizes"][name] = entry
    click.echo("[memory] ingest RSS, stream x1 and x10 ...", err=True)
    results["memory_embedded"] = memory.flatness(8, 2.0 if profile == "quick" else 6.0, now_us)
    results["bench_peak_rss_mib"] = round(peak_rss_mib(), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def table(results: dict[str, Any]) -> str:
    lines = [f"fleetgraph bench ({results['profile']}) on {results['machine']['cpus']} cpus, "
             f"{results['machine']['memory_gib']} GiB, load {results['machine']['load_average']}"]
    for name, entry in results["sizes"].items():
        i = entry["ingest_embedded"]
        lines.append(f"\n[{name}: {entry['stored_edges']:,} edges] ingest embedded: "
                     f"{i['events_per_s']:,} events/s "
                     f"({i['events']:,} events in {i['seconds']} s); "
                     f"raw SQLite baseline {i['baseline_events_per_s']:,} events/s; "
                     f"ratio {i['ratio_to_baseline']}")
        lines.append(f"  {'query':<16}{'p50 ms':>10}{'p99 ms':>10}{'nx p50':>10}{'nx p99':>10}")
        for query, q in entry["queries_embedded"].items():
            lines.append(f"  {query:<16}{q['p50_ms']:>10}{q['p99_ms']:>10}"
                         f"{q['networkx_p50_ms']:>10}{q['networkx_p99_ms']:>10}")
    m = results["memory_embedded"]
    lines.append(f"\nembedded ingest peak RSS: {m['short']['peak_rss_mib']} MiB for "
                 f"{m['short']['events']:,} events, {m['long']['peak_rss_mib']} MiB for "
                 f"{m['long']['events']:,} (growth {m['growth']:+.1%})")
    return "\n".join(lines)
