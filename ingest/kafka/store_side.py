"""The sink of a worker: every graph topic into the GraphStore, on a consumer group
of its own (:mod:`fleetgraph.ingest.kafka.store_consumer`), its writer waiting out
a store outage (:mod:`fleetgraph.ingest.kafka.store_writer`).

It runs as a task of the Faust app (role "all": :func:`add_store_sink`) or alone
on asyncio (role "sink": :mod:`fleetgraph.ingest.kafka.sink_worker`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.kafka.activity import Activity
from fleetgraph.ingest.kafka.publisher import FaustPublisher
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.sinks import TopicDeadLetters
from fleetgraph.ingest.kafka.store_consumer import AssignmentLog, StoreConsumer, consume
from fleetgraph.ingest.kafka.store_consumer import lag as consumer_lag
from fleetgraph.ingest.kafka.store_writer import GraphStoreWriter, StoreRetry, StoreUnavailable
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.settings import KafkaSettings, Settings
from fleetgraph.storage.base import GraphStore

SINK_BATCH = 2000


@dataclass
class StoreSide:
    """The sink of a worker: its writer, its loop and, while it runs, its consumer."""

    writer: GraphStoreWriter
    loop: StoreConsumer
    kafka: KafkaSettings
    topics: list[str]
    activity: Activity
    max_poll_interval_s: float = 300.0
    consumer: Any = None
    assigned: bool = False

    async def drained(self) -> bool:
        """Assigned partitions, every one read to its end, and no batch being written."""
        return (self.assigned and self.consumer is not None and not self.loop.writing
                and await consumer_lag(self.consumer) == 0)

    def _on_assigned(self, assigned: bool) -> None:
        self.assigned = assigned
        self.activity.touch()

    def _on_consumer(self, consumer: Any) -> None:
        self.consumer = consumer

    async def run(self) -> None:
        """Until cancelled; raises StoreUnavailable past the store's deadline."""
        try:
            await consume(self.kafka, self.topics, self.loop,
                          listener=AssignmentLog(self._on_assigned),
                          on_consumer=self._on_consumer,
                          max_poll_interval_s=self.max_poll_interval_s)
        except StoreUnavailable as exc:
            self.writer.failure = exc
            raise


def store_side(
    settings: Settings,
    names: TopicNames,
    registry: Registry,
    store_factory: Callable[[], GraphStore],
    activity: Activity,
    *,
    publish: Callable[[str, bytes | None, bytes], None],
    flush: Callable[[], Awaitable[None]],
    batch_size: int = SINK_BATCH,
    retry: StoreRetry | None = None,
) -> StoreSide:
    """The sink: every graph topic into the store, on the store consumer group
    (:mod:`fleetgraph.ingest.kafka.store_consumer`); ``publish`` sends its dead letters and
    ``flush`` waits until Kafka has them."""
    codec = GraphRecordCodec(registry, names)
    retry = retry or StoreRetry()
    writer = GraphStoreWriter(codec, store_factory, TopicDeadLetters(names.deadletter, publish),
                              retry=retry)
    loop = StoreConsumer(writer, flush_dead_letters=flush, on_stored=activity.stored,
                         batch_size=batch_size,
                         write_upserts=settings.ingest.sink_write_upserts)
    return StoreSide(writer, loop, settings.kafka, list(codec.topics), activity,
                     max_poll_interval_s=max(300.0, retry.max_backoff_s * 6))


def add_store_sink(
    app: Any,
    settings: Settings,
    names: TopicNames,
    registry: Registry,
    store_factory: Callable[[], GraphStore],
    activity: Activity,
    *,
    batch_size: int = SINK_BATCH,
    retry: StoreRetry | None = None,
) -> StoreSide:
    """The sink as a task of the app, its dead letters through Faust's producer.

    While the store is down the sink waits (its partitions are not read on);
    when the outage outlasts ``retry.deadline_s`` the worker crashes, the batch
    uncommitted, so a restarted worker writes it again.
    """

    async def flush() -> None:
        await app.producer.flush()

    side = store_side(settings, names, registry, store_factory, activity,
                      publish=FaustPublisher(app, [names.deadletter]), flush=flush,
                      batch_size=batch_size, retry=retry)

    async def run() -> None:
        try:
            await side.run()
        except StoreUnavailable as exc:
            await app.crash(exc)

    app.task(run)
    return side
