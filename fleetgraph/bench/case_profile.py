"""One or more of ``fleet_scale``'s query cases on a kept fleet, call by call: what an A/B
of a change needs and the fleet run does not print.

For each case: CPU a call (this process, every thread), p50 / p99 / max of the wall
time, the store's rows read a call (``rows_read``), the collector's full collections
and their longest pause, and the slowest calls with their variables; ``--cprofile``
adds the functions by own time. The collector runs as the server runs it
(``serving.collector``). ``--only`` keeps the variables whose text holds it (one
model, one dataset). Alternate two checkouts with ``PYTHONPATH`` for an A/B:

    PYTHONPATH=<old checkout> python -m fleetgraph.bench.case_profile \\
        --work /var/tmp/fleet1e7 --case dataResidency --repeats 200
    python -m fleetgraph.bench.case_profile --work /var/tmp/fleet1e7 \\
        --case placement_candidates10 --store cassandra --only deepseek
"""

from __future__ import annotations

import cProfile
import gc
import json
import pstats
import time
from pathlib import Path
from typing import Any

import click

from fleetgraph.bench.fleet_scale import cassandra_settings, open_cassandra, picked_ids
from fleetgraph.bench.queries import InProcessGraphQL, QueryCase
from fleetgraph.bench.run import cases_for
from fleetgraph.bench.stats import summary_ms
from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.serving.collector import collector_for_serving
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.embedded import SQLiteGraphStore


class FullCollections:
    """A ``gc.callbacks`` hook: the pauses of the generation-2 collections, in ms."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._started) * 1000)


def profile_case(graphql: InProcessGraphQL, store: GraphStore, case: QueryCase, repeats: int,
                 with_cprofile: bool = False, sort: str = "tottime") -> dict[str, Any]:
    """``repeats`` calls of ``case`` (its variables in turn, after one warm call each)."""
    for variables in case.variables:
        graphql.answer(store, case.query, variables)
    collections = FullCollections()
    gc.callbacks.append(collections)
    profiler = cProfile.Profile() if with_cprofile else None
    rows_before = getattr(store, "rows_read", 0)
    calls: list[tuple[float, float, dict[str, Any]]] = []
    cpu_began = time.process_time()
    try:
        if profiler is not None:
            profiler.enable()
        for i in range(repeats):
            variables = case.variables[i % len(case.variables)]
            started, cpu = time.perf_counter(), time.process_time()
            graphql.answer(store, case.query, variables)
            calls.append(((time.perf_counter() - started) * 1000,
                          (time.process_time() - cpu) * 1000, variables))
    finally:
        if profiler is not None:
            profiler.disable()
        gc.callbacks.remove(collections)
    walls = summary_ms([wall for wall, _, _ in calls])  # as the fleet run reports them
    result: dict[str, Any] = {
        "case": case.name, "calls": repeats,
        "cpu_ms": round((time.process_time() - cpu_began) * 1000 / repeats, 2),
        "p50_ms": walls["p50_ms"], "p99_ms": walls["p99_ms"], "max_ms": walls["max_ms"],
        "rows_read": round((getattr(store, "rows_read", 0) - rows_before) / repeats, 1),
        "full_collections": len(collections.pauses),
        "longest_full_collection_ms": round(max(collections.pauses, default=0.0), 1),
        "slowest": [{"wall_ms": round(wall, 1), "cpu_ms": round(cpu, 1), "variables": v}
                    for wall, cpu, v in sorted(calls, key=lambda c: -c[0])[:3]],
    }
    if profiler is not None:
        stats = pstats.Stats(profiler).sort_stats(sort)
        stats.print_stats(40 if sort == "cumulative" else 25)
    return result


@click.command()
@click.option("--work", type=click.Path(path_type=Path), required=True,
              help="a fleet_scale work directory (fleet.json, graph.sqlite)")
@click.option("--case", "names", multiple=True, required=True,
              help="a case of bench/run.py's cases_for (repeatable), e.g. dataResidency")
@click.option("--store", "store_kind", type=click.Choice(["embedded", "cassandra"]),
              default="embedded", show_default=True,
              help="cassandra: the work dir's copy (fleet_scale --store cassandra made it)")
@click.option("--only", default=None, help="keep the variables whose text holds this")
@click.option("--repeats", default=200, show_default=True)
@click.option("--cprofile", "with_cprofile", is_flag=True, help="print functions by own time")
@click.option("--sort", type=click.Choice(["tottime", "cumulative"]), default="tottime",
              show_default=True, help="--cprofile's order: own time, or with callees")
def main(work: Path, names: tuple[str, ...], store_kind: str, only: str | None, repeats: int,
         with_cprofile: bool, sort: str) -> None:
    """Profile query cases on a kept fleet (see the module docstring)."""
    meta = json.loads((work / "fleet.json").read_text())
    now_us = int(meta["now_us"])
    embedded = SQLiteGraphStore(FLEET, work / "graph.sqlite", clock=lambda: now_us,
                                schema="check")
    ids = picked_ids(embedded)
    cases = {c.name: c for c in cases_for(ids["faulted"], ids["models"], ids["artifacts"],
                                           ids["datasets"], now_us)}
    unknown = [n for n in names if n not in cases]
    if unknown:
        raise click.BadParameter(f"no case {unknown[0]!r}; the cases: {', '.join(cases)}")
    store: GraphStore = embedded if store_kind == "embedded" else open_cassandra(
        cassandra_settings(work), now_us)
    graphql = InProcessGraphQL(now_us)
    try:
        with collector_for_serving():
            for name in names:
                case = cases[name]
                if only is not None:
                    kept = [v for v in case.variables if only in json.dumps(v)]
                    if not kept:
                        raise click.BadParameter(f"no variables of {name} hold {only!r}")
                    case = QueryCase(case.name, case.query, kept, case.baseline)
                click.echo(json.dumps(profile_case(graphql, store, case, repeats,
                                                   with_cprofile, sort)))
    finally:
        graphql.close()
        if store is not embedded:
            store.close()
        embedded.close()


if __name__ == "__main__":
    main()
