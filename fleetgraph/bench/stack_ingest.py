"""Ingest on the real stack: sustained events/s through Kafka -> Faust -> Cassandra,
the peak RSS of the worker, and the baseline: the cassandra-driver writing the same
rows directly with ``execute_concurrent_with_args``.

The fleet's messages are published first; one worker (``fleetgraph worker``,
role "all", sink on Cassandra) then drains them and
stops when idle. Its rate is from the first source message processed to the
last store write, as the worker reports it. Run twice, on a stream and on one
ten times longer (same fleet, ten times the hours), for the memory check.
Per core: the worker's own CPU time (user + system of the child process, every
thread) gives events and stored upserts per CPU-second; the baseline's is this
process's CPU time while it plans and sends. ``load1`` is the machine's load average
when a worker started and when it ended (a shared machine's figures need it).

    python -m fleetgraph.bench.stack_ingest [--sites 8 --hours 8] [--no-baseline]  # alone
"""

from __future__ import annotations

import os
import re
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from fleetgraph.bench import stack
from fleetgraph.bench.cassandra_load import BulkLoader, flatten
from fleetgraph.bench.ingest import RecordingSink
from fleetgraph.bench.process import Child
from fleetgraph.bench.stats import ratio
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.embedded import SQLiteGraphStore

PARTITIONS = 4


def fleet_messages(sites: int, hours: float, end_us: int) -> list[tuple[str, bytes]]:
    config = SimulationConfig(seed=11, sites=sites, hours=hours, end_time_us=end_us,
                              malformed_rate=0.0)
    return [(str(t), p) for t, p, _ in simulate_messages(config, load_event_codec())]


def parse_report(text: str) -> dict[str, Any]:
    """The figures of a worker's printed ``WorkerReport(...)``."""
    def number(name: str) -> float | None:
        found = re.findall(rf"{name}=([0-9.]+)", text)
        return float(found[-1]) if found else None

    received = re.findall(r"'received': (\d+)", text)
    first, last = number("first_event_at"), number("last_stored_at")
    busy = last - first if first is not None and last is not None else None
    events = int(received[-1]) if received else 0
    return {"events": events, "upserts_stored": int(number("upserts_stored") or 0),
            "busy_s": round(busy, 3) if busy else None,
            "events_per_s": round(events / busy) if busy else None}


def run_worker(settings: Settings, work: Path, idle_s: float = 8.0,
               timeout_s: float = 1800.0) -> dict[str, Any]:
    """One worker draining the settings' topics into Cassandra; its report and peak RSS."""
    env = {"FLEETGRAPH_KEYSPACE_PREFIX": settings.store.cassandra.keyspace_prefix,
           "FLEETGRAPH_CASSANDRA_HOSTS": settings.store.cassandra.hosts,
           "FLEETGRAPH_CASSANDRA_PORT": str(settings.store.cassandra.port)}
    cpu_before = children_cpu_s()
    load_before = os.getloadavg()[0]
    child = Child(["-m", "fleetgraph", "worker", "--store", "cassandra",
                   "--bootstrap", settings.kafka.bootstrap,
                   "--topic-prefix", settings.kafka.topic_prefix,
                   "--group", settings.kafka.consumer_group,
                   "--dedup-window", str(settings.ingest.dedup_window_s), "--data-dir", str(work),
                   "--partitions", str(PARTITIONS), "--exit-when-idle", str(idle_s),
                   "--loglevel", "warning"], env=env, log=work / "worker.log")
    code = child.wait(timeout_s)
    cpu_s = children_cpu_s() - cpu_before
    if code != 0:
        raise RuntimeError(f"worker exited with {code}: {child.output()}")
    report = parse_report(child.output())
    return {**report, "peak_rss_mib": round(child.peak_rss_mib or 0.0, 1),
            "load1": [round(load_before, 1), round(os.getloadavg()[0], 1)],  # start, end
            "cpu_s": round(cpu_s, 2),
            "events_per_cpu_s": round(report["events"] / cpu_s) if cpu_s else None,
            "upserts_per_cpu_s": round(report["upserts_stored"] / cpu_s) if cpu_s else None}


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's children that have ended (every
    thread of each): a worker's own CPU time, which the shared machine does not
    distort."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def baseline(messages: list[tuple[str, bytes]], store: Any, settings: Settings,
             end_us: int, work: Path) -> dict[str, Any]:
    """The rows the pipeline stores for these messages (the embedded runner's writes),
    written straight through the driver into the same keyspaces."""
    sqlite = SQLiteGraphStore(FLEET, work / "rows.sqlite")
    sink = RecordingSink(sqlite)
    pipeline = Pipeline.for_fleet(sink, DeadLetterList(), clock=lambda: end_us)
    run_embedded(pipeline, lambda: [Message(t, p, f"bench:{i}")
                                    for i, (t, p) in enumerate(messages)])
    sqlite.close()
    loader = BulkLoader(store.session, FLEET, settings.store.cassandra.keyspace_prefix, end_us)
    cpu_started = time.process_time()
    load = loader.load(flatten(sink.batches))
    cpu_s = time.process_time() - cpu_started  # planning and sending, every thread
    return {**load.as_dict(), "events_per_s": round(len(messages) / load.seconds),
            "cpu_s": round(cpu_s, 2),
            "upserts_per_cpu_s": round(load.upserts / cpu_s) if cpu_s else None}


def run(settings: Settings, sites: int, hours: float, end_us: int,
        with_baseline: bool = True) -> dict[str, Any]:
    """Worker on a stream and on one ten times longer; the driver baseline on the longer
    (unless ``with_baseline`` is false: the memory check alone)."""
    own = stack.private(settings, "ingest")
    result: dict[str, Any] = {"dedup_window_s": own.ingest.dedup_window_s, "partitions": PARTITIONS,
                              "keyspace_prefix": own.store.cassandra.keyspace_prefix}
    with tempfile.TemporaryDirectory() as tmp, stack.keyspaces(own) as store:
        work = Path(tmp)
        for name, length in (("short", hours), ("long", hours * 10)):
            topics = own.updated(kafka={"topic_prefix": f"{own.kafka.topic_prefix}{name}.",
                                        "consumer_group": f"{own.kafka.consumer_group}-{name}"})
            from fleetgraph.ingest.kafka.producer import publish_messages

            messages = fleet_messages(sites, length, end_us)
            started = time.perf_counter()
            publish_messages(topics, messages, partitions=PARTITIONS)
            publish_s = time.perf_counter() - started
            click.echo(f"[stack ingest {name}] published {len(messages):,} messages in "
                       f"{publish_s:.0f} s; worker draining them into Cassandra ...", err=True)
            try:
                result[name] = {"messages": len(messages), "sites": sites, "hours": length,
                                "publish_s": round(publish_s, 1),
                                "worker": run_worker(topics, work)}
            finally:
                stack.delete_topics(topics)
            if name == "long" and with_baseline:
                click.echo(f"[stack ingest] baseline: the same rows through the driver "
                           f"({len(messages):,} events) ...", err=True)
                result["baseline"] = baseline(messages, store, own, end_us, work)
            del messages
    long, short = result["long"], result["short"]
    result["worker_rss_growth"] = round(
        long["worker"]["peak_rss_mib"] / short["worker"]["peak_rss_mib"] - 1, 3)
    result["events_per_cpu_s"] = long["worker"]["events_per_cpu_s"]
    if not with_baseline:
        return result
    result["events_per_s"] = long["worker"]["events_per_s"]
    result["baseline_events_per_s"] = result["baseline"]["events_per_s"]
    result["ratio_to_baseline"] = ratio(result["events_per_s"], result["baseline_events_per_s"])
    result.update(rows_ratio(long["worker"], result["baseline"]))
    return result


@click.command()
@click.option("--sites", default=8, show_default=True)
@click.option("--hours", default=8.0, show_default=True, help="Of the short stream; the long "
              "one is ten times longer.")
@click.option("--no-baseline", is_flag=True, help="The worker runs only (memory, CPU).")
def main(sites: int, hours: float, no_baseline: bool) -> None:
    """Part 2 of the full profile alone: ``python -m fleetgraph.bench.stack_ingest``."""
    import json

    from fleetgraph.core.clock import minute_floor_us, wall_clock_us

    stack.require_stack(Settings.from_environ())
    click.echo(json.dumps(run(Settings.from_environ(), sites, hours,
                              minute_floor_us(wall_clock_us()), not no_baseline), indent=1))


def rows_ratio(worker: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Stored upserts per second, worker against driver. The worker's dedup window
    (wall time) merges far more of a drained backlog than the embedded runner does,
    so it stores fewer rows for the same events: per event it looks faster than the
    driver writing the embedded runner's rows; per row it is compared like for like."""
    mine = worker["upserts_stored"] / worker["busy_s"] if worker.get("busy_s") else None
    theirs = baseline["upserts"] / baseline["seconds"] if baseline.get("seconds") else None
    return {"upserts_per_s": round(mine) if mine else None,
            "baseline_upserts_per_s": round(theirs) if theirs else None,
            "rows_ratio_to_baseline": ratio(mine, theirs),
            "rows_ratio_per_cpu_s": ratio(worker.get("upserts_per_cpu_s"),
                                          baseline.get("upserts_per_cpu_s"))}


if __name__ == "__main__":
    main()
