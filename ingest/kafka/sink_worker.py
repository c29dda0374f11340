"""A ``sink`` worker: the store side alone, on asyncio (no Faust app).

It has no agent, table or source topic, so nothing for Faust to run (a Faust
app with no topic refuses to start): the sink's consumer
(:mod:`fleetgraph.ingest.kafka.store_consumer`) runs in a plain event loop, its dead
letters go through an aiokafka producer, SIGINT/SIGTERM stop it after the
batch in hand, and ``exit_when_idle_s`` stops it once it has been assigned
partitions, has read them to their ends and stored nothing for that long.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.kafka.activity import Activity
from fleetgraph.ingest.kafka.heap import heap_trimmer, trim_heap_every
from fleetgraph.ingest.kafka.metrics import WorkerMetrics, refresh_lag_every
from fleetgraph.ingest.kafka.store_side import StoreSide, store_side
from fleetgraph.ingest.kafka.store_writer import StoreRetry
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.settings import Settings
from fleetgraph.storage.base import GraphStore

log = logging.getLogger("fleetgraph.worker")
REPORT_EVERY_S = 10.0


class DeadLetterProducer:
    """``publish`` that queues, ``flush`` that sends the queue and waits for Kafka."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.queued: list[tuple[str, bytes | None, bytes]] = []
        self._producer: Any = None

    def publish(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.queued.append((topic, key, value))

    async def flush(self) -> None:
        from aiokafka import AIOKafkaProducer

        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
            await producer.start()
            self._producer = producer
        producer = self._producer
        queued, self.queued = self.queued, []
        sent = [await producer.send(topic, value, key=key)
                for topic, key, value in queued]
        await asyncio.gather(*sent)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


def run_sink_worker(settings: Settings, names: TopicNames, registry: Registry,
                    store_factory: Callable[[], GraphStore], *,
                    exit_when_idle_s: float | None = None,
                    metrics: WorkerMetrics | None = None) -> tuple[StoreSide, Activity]:
    """Run until stopped; returns the sink (its writer's counts) and its activity;
    ``metrics``, when given, hears of the sink (counts and lag)."""
    activity = Activity()
    dead_letters = DeadLetterProducer(settings.kafka.bootstrap)
    side = store_side(settings, names, registry, store_factory, activity,
                      publish=dead_letters.publish, flush=dead_letters.flush,
                      batch_size=settings.ingest.batch_size,
                      retry=StoreRetry.from_settings(settings))
    if metrics is not None:
        metrics.watch_writer(side.writer)
    asyncio.run(_main(side, activity, dead_letters, exit_when_idle_s, metrics,
                      trim_s=settings.ingest.malloc_trim_s))
    return side, activity


async def _main(side: StoreSide, activity: Activity, dead_letters: DeadLetterProducer,
                exit_when_idle_s: float | None, metrics: WorkerMetrics | None = None,
                trim_s: float = 0.0) -> None:
    sink = asyncio.ensure_future(side.run())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, sink.cancel)
    watchers = [asyncio.ensure_future(_report_every(side))]
    trim = heap_trimmer() if trim_s > 0 else None
    if trim is not None:  # the C heap's free pages back to the system (heap.py)
        watchers.append(asyncio.ensure_future(trim_heap_every(trim_s, trim)))
    if metrics is not None:
        watchers.append(asyncio.ensure_future(refresh_lag_every(metrics, side)))
    if exit_when_idle_s is not None:
        watchers.append(asyncio.ensure_future(_exit_when_idle(side, activity, sink,
                                                              exit_when_idle_s)))
    try:
        await sink
    except asyncio.CancelledError:
        log.info("sink stopped")
    finally:
        for watcher in watchers:
            watcher.cancel()
        await dead_letters.close()


async def _report_every(side: StoreSide) -> None:
    while True:
        await asyncio.sleep(REPORT_EVERY_S)
        log.info("fleetgraph progress graph_records_read=%d upserts_stored=%d",
                 side.writer.records, side.writer.written)


async def _exit_when_idle(side: StoreSide, activity: Activity, sink: asyncio.Future[None],
                          idle_s: float) -> None:
    while True:
        await asyncio.sleep(min(0.5, idle_s / 4))
        if activity.idle_for() < idle_s or not await side.drained():
            continue
        log.info("idle for %.1f s with every graph partition stored: stopping",
                 activity.idle_for())
        sink.cancel()
        return
