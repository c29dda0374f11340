"""``fleetgraph bench --quick --sites N``: every query of the benchmark once over a
small fleet, the store beside its networkx reference (fleetgraph.bench.reference).

A check that the benchmark runs where fleetgraph is installed (a wheel, no checkout),
in seconds; at that size the figures say nothing about speed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fleetgraph.bench import ingest, queries, workload
from fleetgraph.core.clock import minute_floor_us, wall_clock_us
from fleetgraph.graph_model import FLEET
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.embedded import SQLiteGraphStore

REPEATS = 5


def run(sites: int, hours: float, out: Path) -> dict[str, Any]:
    """Simulate, ingest, build the reference graph and run each query ``REPEATS`` times
    on both; the JSON goes to ``out``."""
    from fleetgraph.bench.run import cases

    now_us = minute_floor_us(wall_clock_us())
    config = SimulationConfig(seed=17, sites=sites, hours=hours, end_time_us=now_us,
                              telemetry_interval_s=900, malformed_rate=0.0)
    messages = workload.messages(config)
    graph_module, _ = queries.oracle()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "smoke.sqlite"
        entry: dict[str, Any] = {"ingest_embedded": ingest.run_pipeline(messages, path, now_us)}
        events = queries.clean_events(messages)
        graph = graph_module.build_graph(events)
        store = SQLiteGraphStore(FLEET, path)
        try:
            entry["queries_embedded"] = queries.measure(
                store, cases(events, now_us), graph, now_us, REPEATS)
        finally:
            store.close()
    results = {"profile": "smoke", "sites": sites, "hours": hours, "messages": len(messages),
               **entry}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def table(results: dict[str, Any]) -> str:
    lines = [f"smoke run: {results['sites']} sites, {results['hours']:g} h, "
             f"{results['messages']:,} messages (figures meaningless at this size)",
             f"{'query':<22}{'store p50 ms':>14}{'networkx p50 ms':>17}"]
    for name, row in results["queries_embedded"].items():
        lines.append(f"{name:<22}{row['p50_ms']:>14}{row.get('networkx_p50_ms', '-'):>17}")
    return "\n".join(lines)
