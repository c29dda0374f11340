"""Profiles of the hot paths, for BENCHMARKS.md (cProfile, top entries).

    fleetgraph bench hotpath ingest [--sites 20 --hours 12]
    fleetgraph bench hotpath worker   # needs the stack: Kafka -> Faust -> Cassandra
    fleetgraph bench hotpath query --query placement --size 1e5

``ingest`` profiles the embedded runner in this process; ``worker`` runs
``fleetgraph worker`` under cProfile (CPU time) (sink on
Cassandra, fresh topics and keyspaces) on a published fleet and prints its top entries.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from fleetgraph.core.clock import minute_floor_us, wall_clock_us

PROFILED_WORKER = """
import cProfile, runpy, sys, time
out = sys.argv[1]
sys.argv = ["fleetgraph", "worker", *sys.argv[2:]]
profiler = cProfile.Profile(time.process_time)  # CPU time of the main thread
profiler.enable()
try:
    runpy.run_module("fleetgraph", run_name="__main__")
except SystemExit:
    pass
finally:
    profiler.disable()
    profiler.dump_stats(out)
"""


def top(stats: pstats.Stats, sort: str, limit: int) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(limit)
    return out.getvalue()


def profile_ingest(sites: int, hours: float, limit: int) -> str:
    from fleetgraph.bench import workload
    from fleetgraph.bench.ingest import run_pipeline
    from fleetgraph.simulator import SimulationConfig

    end_us = minute_floor_us(wall_clock_us())
    config = SimulationConfig(seed=17, sites=sites, hours=hours, end_time_us=end_us,
                              telemetry_interval_s=900, malformed_rate=0.0)
    messages = workload.messages(config)
    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile(time.process_time)  # CPU time: the machine is shared
        profiler.enable()
        result = run_pipeline(messages, Path(tmp) / "p.sqlite", end_us)
        profiler.disable()
    stats = pstats.Stats(profiler)
    return (f"{result}\n" + top(stats, "tottime", limit) + top(stats, "cumulative", limit))


def profile_worker(sites: int, hours: float, limit: int) -> str:
    from fleetgraph.bench import stack
    from fleetgraph.bench.process import Child
    from fleetgraph.bench.stack_ingest import PARTITIONS, fleet_messages, parse_report
    from fleetgraph.ingest.kafka.producer import publish_messages
    from fleetgraph.settings import Settings

    settings = stack.private(Settings(), "prof")
    end_us = minute_floor_us(wall_clock_us())
    with tempfile.TemporaryDirectory() as tmp, stack.keyspaces(settings):
        work = Path(tmp)
        publish_messages(settings, fleet_messages(sites, hours, end_us), partitions=PARTITIONS)
        try:
            child = Child(["-c", PROFILED_WORKER, str(work / "worker.prof"),
                           "--store", "cassandra",
                           "--topic-prefix", settings.kafka.topic_prefix,
                           "--group", settings.kafka.consumer_group, "--data-dir", str(work),
                           "--exit-when-idle", "8", "--loglevel", "warning"],
                          env={"FLEETGRAPH_KEYSPACE_PREFIX":
                               settings.store.cassandra.keyspace_prefix},
                          log=work / "worker.log")
            child.wait(1800)
        finally:
            stack.delete_topics(settings)
        stats = pstats.Stats(str(work / "worker.prof"))
        return (f"{parse_report(child.output())}\n" + top(stats, "tottime", limit)
                + top(stats, "cumulative", limit))


def profile_query(name: str, size: str, runs: int, limit: int) -> str:
    """One of the benchmark's GraphQL queries on the embedded store of a benchmark size."""
    import asyncio

    from fleetgraph.bench import queries, workload
    from fleetgraph.bench.ingest import run_pipeline
    from fleetgraph.bench.run import cases
    from fleetgraph.graph_model import FLEET
    from fleetgraph.serving.context import new_context
    from fleetgraph.serving.schema import build_schema
    from fleetgraph.storage.embedded import SQLiteGraphStore

    end_us = minute_floor_us(wall_clock_us())
    messages = workload.messages(workload.size(size, end_us).config)
    with tempfile.TemporaryDirectory() as tmp:
        run_pipeline(messages, Path(tmp) / "q.sqlite", end_us)
        [case] = [c for c in cases(queries.clean_events(messages), end_us) if c.name == name]
        store = SQLiteGraphStore(FLEET, Path(tmp) / "q.sqlite")
        schema = build_schema()

        async def inline(func: Any, /, *args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        asyncio.to_thread = inline  # resolvers' store work in this thread, seen by cProfile
        profiler = cProfile.Profile(time.process_time)
        for i in range(runs):
            context = new_context(store, clock=lambda: end_us)
            profiler.enable()
            result = asyncio.run(schema.execute(
                case.query, variable_values=case.variables[i % len(case.variables)],
                context_value=context))
            profiler.disable()
            if result.errors:
                raise RuntimeError(str(result.errors))
        store.close()
    stats = pstats.Stats(profiler)
    return f"{name} at {size}, {runs} runs\n" + top(stats, "tottime", limit) + top(
        stats, "cumulative", limit)
