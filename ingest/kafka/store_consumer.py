"""The sink: graph topics into the GraphStore, on a consumer group of its own.

One aiokafka consumer per worker reads every graph topic in the group
``<consumer_group>-store`` and, batch by batch: decodes the records (an
unreadable one goes to the dead letters) and writes them, at most
``write_upserts`` upserts at a time (``FLEETGRAPH_SINK_WRITE_UPSERTS``), with
:class:`~ingest.kafka.store_writer.GraphStoreWriter` (waiting while the store
is down), makes sure the batch's dead letters are in Kafka, and only then
commits the batch's offsets. A worker killed at any point leaves the batch
uncommitted, so the next owner of its partitions writes it again; stores merge
by event time, so writing twice changes nothing.

Why not a Faust agent: on faust-streaming 0.15 the sink agent lost graph
records in our drills. After a worker restart a partition's fetch stalled at
one offset for good, or a record was counted as acknowledged (the offset
committed past it) without having reached the agent, and after a store outage
of 10-40 s the agent's partitions were never fetched again. The sink needs
none of what Faust adds (tables, changelogs, joins), only "commit after the
store has it", which a plain consumer gives with nothing in between.

While the store is down the loop waits inside the write and does not poll;
aiokafka keeps heartbeating, and an outage longer than the consumer's
``max_poll_interval_ms`` makes it leave the group (its partitions go to other
workers, the late commit is refused and logged, the batch is written again by
the new owner). Past the writer's deadline ``StoreUnavailable`` ends the loop
and the worker stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.abc import ConsumerRebalanceListener

from fleetgraph.ingest.kafka.store_writer import GraphStoreWriter, KafkaRecord, StoreUnavailable
from fleetgraph.settings import KafkaSettings

log = logging.getLogger(__name__)
STORE_GROUP_SUFFIX = "-store"
POLL_MS = 500
# a fetch is one sink batch, decoded and planned at once: in a worker draining a
# backlog, 1 MiB of graph messages (~10,000 upserts) was ~30,000 Cassandra writes
# alive together; 256 KiB is a few graph messages, ~2,500 upserts
SINK_PARTITION_FETCH_BYTES = 256 * 1024
SINK_FETCH_BYTES = 256 * 1024
# a batch is written this many upserts at a time (its later records decoded only then):
# a 256 KiB fetch of a draining worker was 1,000-5,000 upserts, ~2.8 Cassandra writes each
SINK_WRITE_UPSERTS = 1000


def store_group(kafka: KafkaSettings) -> str:
    """The sink's consumer group: shared by every worker that stores (roles all, sink)."""
    return f"{kafka.consumer_group}{STORE_GROUP_SUFFIX}"


def batch_of(fetched: Mapping[Any, Sequence[Any]]) -> tuple[list[KafkaRecord], dict[Any, int]]:
    """The records of one ``getmany`` answer and the offsets to commit once stored
    (per partition: the last record's offset + 1)."""
    records: list[KafkaRecord] = []
    offsets: dict[Any, int] = {}
    for tp, messages in fetched.items():
        if not messages:
            continue
        records.extend(KafkaRecord(tp.topic, tp.partition, m.offset, m.value) for m in messages)
        offsets[tp] = messages[-1].offset + 1
    return records, offsets


class StoreConsumer:
    """The sink's loop over a consumer (anything with ``getmany`` and ``commit``)."""

    def __init__(
        self,
        writer: GraphStoreWriter,
        *,
        flush_dead_letters: Callable[[], Awaitable[None]],
        on_stored: Callable[[], None] = lambda: None,
        batch_size: int = 2000,
        write_upserts: int = SINK_WRITE_UPSERTS,
        poll_ms: int = POLL_MS,
    ) -> None:
        if write_upserts < 1:
            raise ValueError("a sink write must hold at least one upsert")
        self.writer = writer
        self.flush_dead_letters = flush_dead_letters
        self.on_stored = on_stored
        self.batch_size = batch_size
        self.write_upserts = write_upserts
        self.poll_ms = poll_ms
        self.batches = 0
        self.writing = False  # a batch is in the store's hands (in a thread)
        self.refused_commits = 0  # commits refused after the group moved the partitions

    def _dead_lettered(self) -> int:
        counts = getattr(self.writer.dead_letters, "counts", {})
        return sum(counts.values())

    async def step(self, consumer: Any) -> int:
        """Fetch, store and commit one batch; return how many records it had.

        The batch is decoded and written ``write_upserts`` upserts at a time; its
        offsets are committed once every part is stored (or dead-lettered).
        Raises StoreUnavailable when the store stays down past the deadline
        (the batch stays uncommitted).
        """
        fetched = await consumer.getmany(timeout_ms=self.poll_ms, max_records=self.batch_size)
        records, offsets = batch_of(fetched)
        if not records:
            return 0
        dead_before = self._dead_lettered()
        self.writing = True  # read to the end is not drained while the last batch is written
        try:
            for decoded in self.writer.decode_chunks(records, self.write_upserts):
                error = await asyncio.to_thread(self.writer.store, decoded)
                if error is not None:
                    self.writer.refuse(decoded, error)
                del decoded  # the part written: not kept alive while the next is decoded
        finally:
            self.writing = False
        if self._dead_lettered() != dead_before:
            await self.flush_dead_letters()  # in Kafka before the offsets move past them
        await self._commit(consumer, offsets)
        self.batches += 1
        self.on_stored()
        return len(records)

    async def _commit(self, consumer: Any, offsets: dict[Any, int]) -> None:
        from aiokafka.errors import CommitFailedError, IllegalStateError

        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # the group gave these partitions to another worker meanwhile: it reads
            # them from the last commit and writes this batch again (stores merge)
            self.refused_commits += 1
            log.warning("commit of a stored batch refused (%s); its new owner writes it "
                        "again", exc)


def assignment_summary(tps: Iterable[Any]) -> str:
    """``topic=0,1 topic2=3``: an assignment on one line (tests read it)."""
    by_topic: dict[str, list[int]] = {}
    for tp in tps:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return " ".join(f"{topic}={','.join(map(str, sorted(ps)))}"
                    for topic, ps in sorted(by_topic.items())) or "(none)"


class AssignmentLog(ConsumerRebalanceListener):  # type: ignore[misc]
    """Rebalance listener: logs each assignment of the store group on one line."""

    def __init__(self, on_assigned: Callable[[bool], None] = lambda assigned: None) -> None:
        self.on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        assigned = list(assigned)
        log.info("fleetgraph store assignment %s", assignment_summary(assigned))
        self.on_assigned(bool(assigned))


def create_consumer(kafka: KafkaSettings, topics: Sequence[str], listener: AssignmentLog,
                    *, batch_size: int, max_poll_interval_s: float) -> Any:
    """An aiokafka consumer of ``topics`` in the store group, committing by hand."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=store_group(kafka),
        client_id=f"{store_group(kafka)}-consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        # bounded in flight: a graph message carries up to 256 KiB of upserts; at most
        # this much per partition and per fetch is buffered before the sink takes it
        # (aiokafka's defaults, 1 MiB and 50 MiB, over every graph topic's partitions
        # grew a worker draining a backlog by half)
        max_partition_fetch_bytes=SINK_PARTITION_FETCH_BYTES,
        fetch_max_bytes=SINK_FETCH_BYTES,
        max_poll_interval_ms=int(max_poll_interval_s * 1000),
        # a killed worker's partitions move on after 10 s (aiokafka's default)
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )
    consumer.subscribe(list(topics), listener=listener)
    return consumer


async def consume(kafka: KafkaSettings, topics: Sequence[str], loop: StoreConsumer, *,
                  listener: AssignmentLog, on_consumer: Callable[[Any], None],
                  max_poll_interval_s: float = 300.0) -> None:
    """Run the sink until cancelled; StoreUnavailable ends it (the batch uncommitted).

    ``on_consumer`` gets the started consumer, and None once it is stopped.
    Any other error of a batch leaves it uncommitted: the loop rewinds to the
    last commit and reads it again.
    """
    consumer = create_consumer(kafka, topics, listener, batch_size=loop.batch_size,
                               max_poll_interval_s=max_poll_interval_s)
    await consumer.start()
    on_consumer(consumer)
    try:
        while True:
            try:
                await loop.step(consumer)
            except StoreUnavailable:
                raise
            except Exception:
                log.exception("the sink's batch failed; it stays uncommitted and is read again")
                await asyncio.sleep(1.0)
                await rewind(consumer)
    finally:
        on_consumer(None)
        await consumer.stop()


async def rewind(consumer: Any) -> None:
    """Back to the last committed offsets, so a failed batch is read again."""
    for tp in consumer.assignment():
        committed = await consumer.committed(tp)
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


async def lag(consumer: Any) -> int | None:
    """Records fetched by nobody yet on this consumer's partitions, or None when it
    has none or does not know a partition's end yet."""
    assignment = consumer.assignment()
    if not assignment:
        return None
    total = 0
    for tp in assignment:
        end = consumer.highwater(tp)
        if end is None:
            return None
        total += max(0, end - await consumer.position(tp))
    return total
