"""Throughput of Kafka -> Faust -> sink store, on a simulated fleet.

    fleetgraph bench kafka --sites 40 --hours 7   # about 100k events

Publishes the fleet's messages to fresh topics (a random prefix), runs one
worker (role "all") in-process until it is idle, and prints events/s from the
first source message processed to the last store write, next to the embedded
runner's rate on the same messages. Topics are deleted afterwards.

Per core: the worker's own CPU time (``time.process_time`` around the worker, user +
system of every thread of this process: Faust's loop, aiokafka, the driver's I/O
thread) gives source events and stored upserts per CPU-second, which the machine's
other load (the JVMs, other runs) does not distort. With ``--store cassandra`` the
driver baseline runs in the same process afterwards: the rows the embedded runner
stores for the same messages, planned and sent with ``execute_concurrent_with_args``
(``fleetgraph.bench.cassandra_load``), its upserts per CPU-second next to the worker's.

`fleetgraph bench` (full profile, `fleetgraph/bench/stack_ingest.py`) measures
the same on Cassandra with the worker as a subprocess, its peak RSS, and the
cassandra-driver baseline (`execute_concurrent_with_args` of the same rows).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fleetgraph.bench.ingest import RecordingSink
from fleetgraph.bench.stats import ratio
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.kafka.app import app_id
from fleetgraph.ingest.kafka.dedup_table import DEDUP_TABLE
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import DEFAULT_PARTITIONS, TopicNames, delete_topics
from fleetgraph.ingest.kafka.worker import WorkerReport, run_worker, store_factory_for
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.simulator.config import HOUR_US
from fleetgraph.storage.embedded import SQLiteGraphStore


def run(settings: Settings, *, sites: int = 40, hours: float = 7.0,
        partitions: int = DEFAULT_PARTITIONS, dedup_window_s: float = 1.0,
        store_kind: str = "embedded", keep_topics: bool = False,
        loglevel: str = "warning", roles: str = "all", baseline: bool = True
        ) -> dict[str, Any]:
    """Publish a simulated fleet to fresh topics, drain them with one in-process worker
    into ``store_kind``, then run the embedded runner on the same messages; print both
    rates. ``settings`` gives Kafka's address and Cassandra's (the prefixes are fresh).

    ``roles``: "all" (one worker processing and storing) or "split": a ``process``
    worker drains the sources to the graph topics, then a ``sink`` worker drains those
    into the store, each measured on its own CPU time. ``baseline=False`` skips the
    driver baseline (a minute and more of Cassandra writes after the worker, which the
    worker's figures do not depend on)."""
    if roles not in ("all", "split"):
        raise ValueError(f"roles must be 'all' or 'split', not {roles!r}")
    end_us = (int(time.time()) // 60 * 60) * 1_000_000 - HOUR_US
    config = SimulationConfig(seed=7, sites=sites, hours=hours, end_time_us=end_us,
                              malformed_rate=0.001)
    messages = [(str(t), p) for t, p, _ in simulate_messages(config, load_event_codec())]
    print(f"simulated {len(messages):,} messages ({sites} sites, {hours:g} h)")

    work = Path(tempfile.mkdtemp(prefix="fleetgraph-bench-"))
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    settings = settings.updated(
        data_dir=work, kafka={"topic_prefix": prefix, "consumer_group": f"{prefix}ingest"},
        ingest={"dedup_window_s": dedup_window_s},
        store={"kind": store_kind, "cassandra": {"keyspace_prefix": f"b{uuid.uuid4().hex[:6]}_"}})
    if store_kind == "cassandra":  # keyspaces of its own, dropped at the end
        from fleetgraph.storage.cassandra import init_schema

        init_schema(settings.store.cassandra)
    started = time.perf_counter()
    publish_messages(settings, messages, partitions=partitions)
    produce_s = time.perf_counter() - started
    print(f"published in {produce_s:.1f} s ({len(messages) / produce_s:,.0f} msg/s)")

    figures: dict[str, Any] = {"messages": len(messages), "store": store_kind, "roles": roles}
    try:
        if roles == "split":
            figures.update(split_roles(settings, work, partitions, loglevel, len(messages)))
        else:
            report, worker_cpu_s, threads = run_role(settings, "all", work, partitions, loglevel)
            figures["threads_cpu_s"] = threads
            received = report.processed.get("received", 0)
            figures.update(worker_figures(received, report.upserts_stored, worker_cpu_s,
                                          report.busy_s))
            figures["messages_per_cpu_s"] = round(len(messages) / worker_cpu_s)
            if report.busy_cpu_s:  # without start-up and the idle wait before the stop
                figures["busy_cpu_s"] = round(report.busy_cpu_s, 2)
                figures["events_per_busy_cpu_s"] = round(received / report.busy_cpu_s)
            print(f"worker: {report.processed}")
            print(f"worker: {report.upserts_stored:,} upserts stored in "
                  f"{report.busy_s or 0:.1f} s: {report.events_per_second or 0:,.0f} events/s "
                  f"through Kafka -> Faust -> {store_kind} store")
            print(f"worker CPU: {worker_cpu_s:.1f} s (start to stop, every thread): "
                  f"{figures['events_per_cpu_s']:,} source events "
                  f"({figures['messages_per_cpu_s']:,} distinct messages) and "
                  f"{figures['upserts_per_cpu_s']:,} stored upserts per CPU-second; by thread "
                  f"{figures['threads_cpu_s']}")
            if report.busy_cpu_s:
                print(f"worker CPU from the first source message to the last store write: "
                      f"{report.busy_cpu_s:.1f} s, {figures['events_per_busy_cpu_s']:,} source "
                      f"events per CPU-second")

        store = SQLiteGraphStore(FLEET, work / "embedded.sqlite")
        sink = RecordingSink(store)
        pipeline = Pipeline.for_fleet(sink, DeadLetterList(), clock=lambda: end_us)
        listed = [Message(t, p, f"bench:{i}") for i, (t, p) in enumerate(messages)]
        embedded = run_embedded(pipeline, lambda: listed)
        store.close()
        print(f"embedded runner on the same messages: {embedded.events_per_second:,.0f} "
              f"events/s ({embedded.stats.written:,} writes)")
        if store_kind == "cassandra" and baseline:
            figures["baseline"] = driver_baseline(settings, sink, end_us)
            figures.update(baseline_ratios(figures, figures["baseline"]))
            if roles == "split":
                figures["sink"]["rows_ratio_cpu"] = ratio(
                    figures["sink"]["upserts_per_cpu_s"], figures["baseline"]["upserts_per_cpu_s"])
            base = figures["baseline"]
            print(f"driver baseline (same rows as the embedded runner, execute_concurrent): "
                  f"{base['upserts']:,} upserts, {base['statements']:,} statements, "
                  f"{base['cpu_s']:.1f} CPU s, {base['upserts_per_cpu_s']:,} upserts per "
                  f"CPU-second, {base['upserts_per_s']:,} upserts/s")
            print(f"worker / driver per stored upsert: {figures['rows_ratio_cpu']} per "
                  f"CPU-second, {figures['rows_ratio_wall']} per wall second")
    finally:
        if store_kind == "cassandra":
            from fleetgraph.storage.cassandra import CassandraGraphStore

            cassandra = CassandraGraphStore(FLEET, settings.store.cassandra, schema="trust")
            try:
                cassandra.drop_schema()
            finally:
                cassandra.close()
        if not keep_topics:
            names = TopicNames(prefix)
            changelogs = [f"{app_id(settings, role)}-{DEDUP_TABLE}-changelog"
                          for role in ("all", "process")]
            asyncio.run(delete_topics(settings.kafka.bootstrap, [*names.all(FLEET), *changelogs]))
    print(json.dumps(figures))
    return figures


def run_role(settings: Settings, role: str, work: Path, partitions: int, loglevel: str
             ) -> tuple[WorkerReport, float, dict[str, float]]:
    """One in-process worker of ``role`` until idle: its report, its CPU seconds (every
    thread of this process, start to stop) and those by thread kind."""
    threads = ThreadCpu()
    threads.start()
    cpu_started = time.process_time()
    try:
        report = run_worker(settings, store_factory_for(settings, work / "graph.sqlite"),
                            role=role, partitions=partitions, loglevel=loglevel,
                            exit_when_idle_s=5.0)
    finally:
        cpu_s = time.process_time() - cpu_started
        threads.stop()
    return report, cpu_s, threads.by_kind()


def split_roles(settings: Settings, work: Path, partitions: int, loglevel: str,
                messages: int) -> dict[str, Any]:
    """A ``process`` worker, then a ``sink`` worker, one after the other: the figures of
    each role on its own CPU time, and of the two together."""
    processed, process_cpu_s, process_threads = run_role(settings, "process", work,
                                                         partitions, loglevel)
    received = processed.processed.get("received", 0)
    print(f"process worker: {processed.processed}")
    print(f"process worker CPU: {process_cpu_s:.1f} s: {received / process_cpu_s:,.0f} source "
          f"events ({messages / process_cpu_s:,.0f} distinct messages) per CPU-second; by "
          f"thread {process_threads}")
    port = settings.ingest.metrics_port  # the process worker's server stays bound
    sink_settings = settings.updated(ingest={"metrics_port": port + 1}) if port else settings
    stored, sink_cpu_s, sink_threads = run_role(sink_settings, "sink", work, partitions,
                                                loglevel)
    print(f"sink worker CPU: {sink_cpu_s:.1f} s: {stored.upserts_stored:,} upserts stored, "
          f"{stored.upserts_stored / sink_cpu_s:,.0f} per CPU-second "
          f"({stored.graph_records_read:,} graph records read); by thread {sink_threads}")
    both_s = process_cpu_s + sink_cpu_s
    return {
        "process": {"events": received, "cpu_s": round(process_cpu_s, 2),
                    "events_per_cpu_s": round(received / process_cpu_s),
                    "messages_per_cpu_s": round(messages / process_cpu_s),
                    "reread": processed.processed.get("reread", 0),
                    "threads_cpu_s": process_threads},
        "sink": {"graph_records": stored.graph_records_read, "cpu_s": round(sink_cpu_s, 2),
                 "upserts_stored": stored.upserts_stored,
                 "upserts_per_cpu_s": round(stored.upserts_stored / sink_cpu_s),
                 "threads_cpu_s": sink_threads},
        **worker_figures(received, stored.upserts_stored, both_s, None),
        "messages_per_cpu_s": round(messages / both_s),
    }


class ThreadCpu:
    """CPU seconds of this process's threads since :meth:`start`
    (``/proc/self/task/<tid>/stat``, user + system), sampled every ``every_s`` and summed
    by kind (the thread's name without
    its number): where a worker's CPU goes, next to the profile."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.last: dict[int, tuple[str, float]] = {}  # native id -> (kind, CPU s)
        self.first: dict[int, float] = {}  # native id -> CPU s at start (threads then alive)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-thread-cpu", daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self.sample()
        self.first = {tid: cpu_s for tid, (_, cpu_s) in self.last.items()}
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def sample(self) -> None:
        for thread in threading.enumerate():
            if thread.native_id is None or thread is self._thread:
                continue
            try:
                with open(f"/proc/self/task/{thread.native_id}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            kind = re.sub(r"[-_ ]?\d+$", "", thread.name.split(" ")[0]) or "thread"
            self.last[thread.native_id] = (kind, (int(fields[11]) + int(fields[12])) / self._tick)

    def by_kind(self) -> dict[str, float]:
        kinds: dict[str, float] = {}
        for tid, (kind, cpu_s) in self.last.items():
            kinds[kind] = round(kinds.get(kind, 0.0) + cpu_s - self.first.get(tid, 0.0), 1)
        return kinds


def worker_figures(events: int, upserts: int, cpu_s: float, busy_s: float | None
                   ) -> dict[str, Any]:
    """A worker's rates per CPU-second of its own process and per wall second."""
    return {"events": events, "upserts_stored": upserts, "worker_cpu_s": round(cpu_s, 2),
            "busy_s": round(busy_s, 2) if busy_s else None,
            "events_per_cpu_s": round(events / cpu_s) if cpu_s else None,
            "upserts_per_cpu_s": round(upserts / cpu_s) if cpu_s else None,
            "events_per_s": round(events / busy_s) if busy_s else None,
            "upserts_per_s": round(upserts / busy_s) if busy_s else None}


def driver_baseline(settings: Settings, sink: RecordingSink, end_us: int) -> dict[str, Any]:
    """The embedded runner's rows through the driver into the same keyspaces: CPU time
    of planning and sending (this process, every thread) and wall time of sending."""
    from fleetgraph.bench.cassandra_load import BulkLoader, flatten
    from fleetgraph.storage.cassandra import CassandraGraphStore

    cassandra = CassandraGraphStore(FLEET, settings.store.cassandra, schema="trust")
    try:
        loader = BulkLoader(cassandra.session, FLEET, settings.store.cassandra.keyspace_prefix,
                            end_us)
        cpu_started = time.process_time()
        load = loader.load(flatten(sink.batches))
        cpu_s = time.process_time() - cpu_started
    finally:
        cassandra.close()
    return {**load.as_dict(), "cpu_s": round(cpu_s, 2),
            "upserts_per_cpu_s": round(load.upserts / cpu_s) if cpu_s else None,
            "upserts_per_s": round(load.upserts / load.seconds) if load.seconds else None}


def baseline_ratios(worker: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Worker over driver, per stored upsert: per CPU-second and per wall second."""
    return {"rows_ratio_cpu": ratio(worker.get("upserts_per_cpu_s"),
                                    baseline.get("upserts_per_cpu_s")),
            "rows_ratio_wall": ratio(worker.get("upserts_per_s"), baseline.get("upserts_per_s"))}


def main(argv: list[str] | None = None) -> None:
    """``python -m fleetgraph.bench.kafka_throughput [--roles split] ...``: as
    ``fleetgraph bench kafka``, with the roles' choice."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--hours", type=float, default=7.0)
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    parser.add_argument("--dedup-window", type=float, default=1.0)
    parser.add_argument("--store", choices=("embedded", "cassandra"), default="embedded")
    parser.add_argument("--roles", choices=("all", "split"), default="all")
    parser.add_argument("--loglevel", default="warning")
    parser.add_argument("--no-baseline", action="store_true",
                        help="Skip the driver baseline (--store cassandra).")
    parser.add_argument("--out", type=Path, help="Write the figures' JSON there.")
    args = parser.parse_args(argv)
    figures = run(Settings.from_environ(), sites=args.sites, hours=args.hours,
                  partitions=args.partitions, dedup_window_s=args.dedup_window,
                  store_kind=args.store, loglevel=args.loglevel, roles=args.roles,
                  baseline=not args.no_baseline)
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
