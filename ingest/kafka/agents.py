"""The Faust wiring, kept thin: agents, the dedup table and its flush timer.

- one agent per source topic (``fleetgraph.process.<topic>``), each feeding
  its messages to :class:`SourceProcessors` (the embedded runner's stages);
- the ``dedup`` table (memory store, changelog-backed) holding buffered
  updates, keyed by source partition so an entry's changelog partition is the
  partition its updates came from; a timer flushes entries older than the
  dedup window to the graph topics, waits for the producer, then deletes them;
- the inventory side input (:mod:`fleetgraph.ingest.kafka.sideinput`), which the source
  agents wait for before processing their first message (inside the loop: Faust
  subscribes a topic only once its stream is iterated);
- the sink: a task reading every graph topic on a consumer group of its own
  and writing batches to the GraphStore (:mod:`fleetgraph.ingest.kafka.store_consumer`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust

from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.kafka.dedup import MappedDedup, partition_of
from fleetgraph.ingest.kafka.processor import SourceProcessors
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.sideinput import InventoryFollower, InventorySideInput
from fleetgraph.ingest.kafka.sinks import GraphTopicSink, TopicDeadLetters
from fleetgraph.ingest.kafka.stall_guard import StallGuard
from fleetgraph.ingest.kafka.store_consumer import AssignmentLog, StoreConsumer, consume
from fleetgraph.ingest.kafka.store_consumer import lag as consumer_lag
from fleetgraph.ingest.kafka.store_writer import GraphStoreWriter, StoreRetry, StoreUnavailable
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas.codec import EventCodec
from fleetgraph.schemas.topics import SOURCE_TOPICS, Topic
from fleetgraph.settings import Settings
from fleetgraph.storage.base import GraphStore

log = logging.getLogger(__name__)
DEDUP_TABLE = "dedup"
SINK_BATCH = 2000
STALL_CHECK_S = 5.0


class PersistBeforeCommit(faust.Sensor):
    """Writes the dedup buffer's changed entries to its table just before Faust commits
    source offsets (the commit then waits for the producer), so the changelog covers
    every committed offset."""

    def __init__(self, dedup: MappedDedup) -> None:
        super().__init__()
        self.dedup = dedup

    def on_commit_initiated(self, consumer: Any) -> Any:
        self.dedup.persist()
        return None


class DedupTable(faust.Table[str, dict[str, Any]]):
    """A table whose changelog partition is the one named in the key, so entries can be
    deleted from a timer, outside any stream event; it keeps the changelog writes not
    yet known to be in Kafka (see :func:`changelog_before_commit`)."""

    def partition_for_key(self, key: Any) -> int:
        return partition_of(str(key))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight: list[Any] = []  # changelog writes since the last commit

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        sent = super().send_changelog(*args, **kwargs)
        self.in_flight.append(sent)
        return sent


def changelog_before_commit(app: Any, table: DedupTable) -> None:
    """Make every commit wait until Kafka has the changelog writes made before it.

    Faust's commit flushes its producer buffer first, but a message its
    background sender has taken off the buffer and not yet handed to the client
    is in neither, and the commit goes on without it: killed right after, the
    worker lost a buffered update its committed offsets covered. The writes'
    own futures (resolved on delivery) are waited for, just before the offsets
    are committed.
    """
    consumer = app.consumer
    original = consumer._handle_attached

    async def handle_attached(offsets: Any) -> None:
        await original(offsets)
        sent, table.in_flight[:] = list(table.in_flight), []
        if sent:
            await asyncio.gather(*sent)

    consumer._handle_attached = handle_attached


@dataclass
class Activity:
    """When the worker last did something (for exit-when-idle and logs)."""

    last: float = field(default_factory=time.monotonic)
    assigned: bool = False
    first_event: float | None = None  # wall time of the first source message processed
    last_stored: float | None = None  # wall time of the sink's last store write

    def touch(self) -> None:
        self.last = time.monotonic()

    def event(self) -> None:
        self.touch()
        if self.first_event is None:
            self.first_event = time.time()

    def stored(self) -> None:
        self.touch()
        self.last_stored = time.time()

    def idle_for(self) -> float:
        return time.monotonic() - self.last


class FaustPublisher:
    """``publish(topic, key, value)`` through Faust's buffered producer."""

    def __init__(self, app: Any, topics: list[str]) -> None:
        self.app = app
        self._topics: dict[str, Any] = {}
        for name in topics:
            self._topic(name)

    def _topic(self, name: str) -> Any:
        topic = self._topics.get(name)
        if topic is None:
            topic = self.app.topic(name, key_serializer="raw", value_serializer="raw")
            self._topics[name] = topic
        return topic

    def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._topic(topic).send_soon(key=key, value=value)


@dataclass
class Processing:
    processors: SourceProcessors
    dedup: MappedDedup
    sink: GraphTopicSink
    follower: InventoryFollower | None
    ready: asyncio.Event
    owned: Callable[[], set[int]]  # the source partitions whose dedup entries are ours
    guard: StallGuardTask

    def pending(self) -> int:
        return self.dedup.pending(self.owned())

    def sources_waiting(self) -> bool:
        """Records wait on an assigned source partition (as of the last fetch)."""
        return self.guard.waiting()


def owned_partitions(app: Any, table: Any) -> set[int]:
    """Partitions of ``table``'s changelog this worker is active for."""
    changelog = table.changelog_topic_name
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog}


def add_processing(
    app: Any,
    settings: Settings,
    names: TopicNames,
    registry: Registry,
    codec: EventCodec,
    activity: Activity,
    *,
    partitions: int,
    publish: Callable[[str, bytes | None, bytes], None] | None = None,
    follow_inventory: bool = True,
    validator: Validator | None = None,
) -> Processing:
    """The source agents, the dedup table and timer, and the inventory side input."""
    graph_codec = GraphRecordCodec(registry, names)
    publish = publish or FaustPublisher(app, [*graph_codec.topics, names.deadletter])
    table = app.tables.add(DedupTable(
        app, name=DEDUP_TABLE, beacon=app.tables.beacon, partitions=partitions,
        help="Buffered graph updates by source partition and record key.",
    ))
    window_us = int(settings.ingest.dedup_window_s * 1_000_000)
    dedup = MappedDedup(table, window_us, write_behind=True)
    app.sensors.add(PersistBeforeCommit(dedup))
    changelog_before_commit(app, table)

    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # Faust has committed (and so persisted) before this signal; the next owner
        # of these partitions reads their entries from the changelog
        changelog = table.changelog_topic_name
        dedup.drop({tp.partition for tp in revoked if tp.topic == changelog})

    app.on_partitions_revoked.connect(on_revoked)
    sink = GraphTopicSink(graph_codec, publish)
    validator = validator or Validator(registry)
    topology = Topology()
    processors = SourceProcessors(
        registry, codec, names, dedup, sink, TopicDeadLetters(names.deadletter, publish),
        topology=topology, validator=validator,
    )
    follower = None
    if follow_inventory:
        side_input = InventorySideInput(codec, validator, topology)
        follower = InventoryFollower(settings.kafka.bootstrap, names.source(Topic.INVENTORY),
                                     partitions, side_input)
        app.task(follower.run)
        ready = follower.ready
    else:
        ready = asyncio.Event()
        ready.set()
    for topic in SOURCE_TOPICS:
        _add_source_agent(app, names.source(topic), processors, ready, activity)

    interval = max(0.2, min(1.0, settings.ingest.dedup_window_s / 2))

    def owned() -> set[int]:
        return owned_partitions(app, table)

    async def flush_dedup() -> None:
        await flush_due(app, dedup, sink, activity, owned())

    app.timer(interval, name="fleetgraph.flush_dedup")(flush_dedup)
    guard = StallGuardTask(app, {names.source(topic) for topic in SOURCE_TOPICS}, ready)
    app.timer(STALL_CHECK_S, name="fleetgraph.stall_guard")(guard.check)
    return Processing(processors, dedup, sink, follower, ready, owned, guard)


class StallGuardTask:
    """The app's StallGuard, on the app's consumer from the start (so that Faust's gap
    acknowledgement is refused before the first fetch)."""

    def __init__(self, app: Any, topics: set[str], ready: asyncio.Event) -> None:
        self.app = app
        self.ready = ready  # the source agents wait for the topology before the first event
        self.guard = StallGuard(app.consumer, topics)

    async def check(self) -> None:
        if self.app.rebalancing or not self.ready.is_set():
            return
        try:
            await self.guard.check()
        except Exception:
            log.exception("checking the source partitions for stalls failed")

    @property
    def reread(self) -> int:
        return self.guard.reread

    def waiting(self) -> bool:
        try:
            return any(state.behind for state in self.guard.states())
        except Exception:  # no consumer yet
            return True


def _add_source_agent(app: Any, topic_name: str, processors: SourceProcessors,
                      ready: asyncio.Event, activity: Activity) -> None:
    channel = app.topic(topic_name, key_serializer="raw", value_serializer="raw")

    async def process(stream: Any) -> None:
        # Iterate at once: Faust subscribes a topic only when its stream is iterated,
        # so waiting before the loop would leave this worker's partitions unread.
        async for event in stream.events():
            if not ready.is_set():
                await ready.wait()  # the topology side input first, as the embedded runner
            message = event.message
            processors.process(message.topic, message.partition, message.offset, message.value)
            activity.event()
            # A stream with a full buffer never suspends; let the sink agent, the
            # producer and the timers run too.
            await asyncio.sleep(0)

    app.agent(channel, name=f"fleetgraph.process.{topic_name}")(process)


async def flush_due(app: Any, dedup: MappedDedup, sink: GraphTopicSink,
                    activity: Activity, partitions: set[int] | None = None) -> int:
    """Write the due dedup entries (of ``partitions``), wait until Kafka has them,
    then delete them.

    The records go straight to the producer, not through Faust's buffer: a
    burst of thousands would hold every stream until the buffer drains.
    """
    try:
        due = dedup.take_due(partitions=partitions)
        if not due:
            return 0
        sent = []
        for upsert in due.upserts:
            record = sink.codec.encode(upsert)
            sent.append(await app.producer.send(record.topic, record.key, record.value,
                                                None, None, None))
            sink.written[record.topic] += 1
        await asyncio.gather(*sent)
        await app.producer.flush()
        dedup.forget(due)
        activity.touch()
        return len(due)
    except Exception:
        log.exception("flushing the dedup buffer failed; the entries stay for the next tick")
        return 0


@dataclass
class StoreSide:
    """The sink of a worker: its writer, its loop and, while it runs, its consumer."""

    writer: GraphStoreWriter
    loop: StoreConsumer
    settings: Settings
    topics: list[str]
    activity: Activity
    max_poll_interval_s: float = 300.0
    consumer: Any = None
    assigned: bool = False

    async def drained(self) -> bool:
        """Assigned partitions, every one read to its end."""
        return (self.assigned and self.consumer is not None
                and await consumer_lag(self.consumer) == 0)

    def _on_assigned(self, assigned: bool) -> None:
        self.assigned = assigned
        self.activity.touch()

    def _on_consumer(self, consumer: Any) -> None:
        self.consumer = consumer

    async def run(self) -> None:
        """Until cancelled; raises StoreUnavailable past the store's deadline."""
        try:
            await consume(self.settings, self.topics, self.loop,
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
                         batch_size=batch_size)
    return StoreSide(writer, loop, settings, list(codec.topics), activity,
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
