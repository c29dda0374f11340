"""Throughput of Kafka -> Faust -> sink store, on a simulated fleet.

    fleetgraph bench kafka --sites 40 --hours 7   # about 100k events

Publishes the fleet's messages to fresh topics (a random prefix), runs one
worker (role "all") in-process until it is idle, and prints events/s from the
first source message processed to the last store write, next to the embedded
runner's rate on the same messages. Topics are deleted afterwards.

`fleetgraph bench` (full profile, `fleetgraph/bench/stack_ingest.py`) measures
the same on Cassandra with the worker as a subprocess, its peak RSS, and the
cassandra-driver baseline (`execute_concurrent_with_args` of the same rows).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import DEFAULT_PARTITIONS, TopicNames, delete_topics
from fleetgraph.ingest.kafka.worker import run_worker, store_factory_for
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.simulator.config import HOUR_US
from fleetgraph.storage.embedded import SQLiteGraphStore


def run(settings: Settings, *, sites: int = 40, hours: float = 7.0,
        partitions: int = DEFAULT_PARTITIONS, dedup_window_s: float = 1.0,
        store_kind: str = "embedded", keep_topics: bool = False,
        loglevel: str = "warning") -> None:
    """Publish a simulated fleet to fresh topics, drain them with one in-process worker
    into ``store_kind``, then run the embedded runner on the same messages; print both
    rates. ``settings`` gives Kafka's address and Cassandra's (the prefixes are fresh)."""
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

    try:
        report = run_worker(settings, store_factory_for(settings, work / "graph.sqlite"),
                            partitions=partitions, loglevel=loglevel,
                            exit_when_idle_s=5.0)
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
            asyncio.run(delete_topics(settings.kafka.bootstrap,
                                      [*names.all(FLEET), f"{prefix}ingest-dedup-changelog"]))
    print(f"worker: {report.processed}")
    print(f"worker: {report.upserts_stored:,} upserts stored in {report.busy_s or 0:.1f} s: "
          f"{report.events_per_second or 0:,.0f} events/s through Kafka -> Faust -> "
          f"{store_kind} store")

    store = SQLiteGraphStore(FLEET, work / "embedded.sqlite")
    pipeline = Pipeline.for_fleet(StoreSink(store), DeadLetterList())
    listed = [Message(t, p, f"bench:{i}") for i, (t, p) in enumerate(messages)]
    embedded = run_embedded(pipeline, lambda: listed)
    print(f"embedded runner on the same messages: {embedded.events_per_second:,.0f} events/s "
          f"({embedded.stats.written:,} writes)")
