"""The dedup buffer on a worker and its way out to the graph topics.

- the ``dedup`` table (memory store, changelog-backed) holding buffered
  updates, keyed by source partition so an entry's changelog partition is the
  partition its updates came from (:mod:`fleetgraph.ingest.kafka.dedup`);
- its part in the commit of source offsets (the order is
  :mod:`fleetgraph.ingest.kafka.checkpoint`'s): the buffer's changed entries are
  written to the table when a commit starts, and the commit waits until Kafka has
  every changelog write made before it;
- two timers that flush the due entries to the graph topics, wait until Kafka
  has acknowledged those records, then delete the entries (or, written before
  their window ends, empty them until it does): every ``LEADING_TICK_S`` one
  takes the entries due on their leading edge or held until now, every
  ``interval_s`` the other scans them all. Neither waits for the other (an entry one has taken is in
  flight, and the other leaves it), nor for anything else in the producer: a
  scan of thousands of entries, or a commit's changelog writes, used to hold a
  new key's leading edge for as long as Kafka took to acknowledge them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from fleetgraph.ingest.kafka.activity import Activity
from fleetgraph.ingest.kafka.changelog import ChangelogWriter
from fleetgraph.ingest.kafka.checkpoint import SourceCheckpoint, checkpoint_of, kafka_client
from fleetgraph.ingest.kafka.dedup import MappedDedup, partition_of
from fleetgraph.ingest.kafka.sinks import GraphTopicSink
from fleetgraph.ingest.stages.dedup import DedupMode

log = logging.getLogger(__name__)
DEDUP_TABLE = "dedup"
LEADING_TICK_S = 0.1  # how often the entries due on their leading edge, or held, are taken

# How long a key's later updates within its window may wait is
# settings.ingest.dedup_max_hold_s (FLEETGRAPH_DEDUP_MAX_HOLD_S; unset: the window).
# A hold of 1 s cost 0.1 % more writes than the 5 s window on the demo mix in event
# time (``python -m fleetgraph.bench.dedup_edges --holds 1``), but 22 % more upserts
# on the freshness bench's stream (worker and server 22.8 vs 16.7 CPU-s in one pair of
# runs), a day of the fleet replayed ~150 times faster than it happened, where keys
# change every second or two; a draining backlog is the same: so not by default.


class DedupTable(faust.Table[str, dict[str, Any]]):
    """A table whose changelog partition is the one named in the key, so entries can be
    deleted from a timer, outside any stream event; its changelog writes go, in the
    order made, straight to the Kafka client in batches (:mod:`.changelog`: not through
    Faust's producer buffer, where a commit's burst of thousands was a memory peak),
    and it hands each group of them to its ``checkpoint``, so that the next commit
    waits until Kafka has them (Faust's commit flushes only its own buffer; a write it has not
    handed to the client is in neither, and a worker killed right after such a commit
    lost an update its offsets covered)."""

    checkpoint: SourceCheckpoint | None = None
    writer: ChangelogWriter | None = None

    def partition_for_key(self, key: Any) -> int:
        return partition_of(str(key))

    def send_changelog(self, partition: int | None, key: Any, value: Any,
                       key_serializer: Any = None, value_serializer: Any = None) -> Any:
        if self.writer is None:
            producer = self.app.producer
            self.writer = ChangelogWriter(lambda: kafka_client(producer), self.changelog_topic,
                                          on_group=self.track_group)
        return self.writer.put(
            self.partition_for_key(key) if partition is None else partition, key, value,
            self.key_serializer if key_serializer is None else key_serializer,
            self.value_serializer if value_serializer is None else value_serializer)

    def track_group(self, sent: Any) -> None:
        """The checkpoint waits for a group of changelog writes (step 4)."""
        if self.checkpoint is not None:
            self.checkpoint.track(sent)


def add_dedup_table(app: Any, window_us: int, partitions: int, mode: DedupMode = "leading",
                    max_hold_us: int | None = None, max_entries: int = 200_000
                    ) -> tuple[DedupTable, MappedDedup]:
    """The ``dedup`` table of ``app`` and the buffer over it, written behind (just
    before each commit), holding an update at most ``max_hold_us`` (None: the
    window), writing the oldest beyond ``max_entries`` early; a revoked partition's
    entries are left to its next owner."""
    table = app.tables.add(DedupTable(
        app, name=DEDUP_TABLE, beacon=app.tables.beacon, partitions=partitions,
        help="Buffered graph updates by source partition and record key.",
    ))
    dedup = MappedDedup(table, window_us, write_behind=True, mode=mode, max_hold_us=max_hold_us,
                        max_entries=max_entries)
    checkpoint = checkpoint_of(app)
    table.checkpoint = checkpoint
    checkpoint.before_commit.append(dedup.persist)

    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # Faust has committed (and so persisted) before this signal; the next owner
        # of these partitions reads their entries from the changelog
        changelog = table.changelog_topic_name
        dedup.drop({tp.partition for tp in revoked if tp.topic == changelog})

    app.on_partitions_revoked.connect(on_revoked)
    return table, dedup


def owned_partitions(app: Any, table: Any) -> set[int]:
    """Partitions of ``table``'s changelog this worker is active for."""
    changelog = table.changelog_topic_name
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog}


def add_flush_timer(app: Any, dedup: MappedDedup, sink: GraphTopicSink, activity: Activity,
                    owned: Callable[[], set[int]], interval_s: float) -> None:
    """:func:`flush_due` on the partitions ``owned()`` names: every ``interval_s`` a scan
    of every entry and every ``LEADING_TICK_S`` the entries due on their leading edge
    or held until now, in two loops (tasks rather than Faust timers, which warn
    whenever a run outlasts its short interval): a slow scan does not hold them."""

    def every(period_s: float, scan: bool) -> Callable[[], Awaitable[None]]:
        async def flush_dedup() -> None:
            while not app.should_stop:
                started = time.monotonic()
                await flush_due(app, dedup, sink, activity, owned(), scan=scan)
                await app.sleep(max(0.0, period_s - (time.monotonic() - started)))
        return flush_dedup

    app.task(every(interval_s, scan=True))
    app.task(every(min(interval_s, LEADING_TICK_S), scan=False))


async def flush_due(app: Any, dedup: MappedDedup, sink: GraphTopicSink,
                    activity: Activity, partitions: set[int] | None = None, *,
                    scan: bool = True) -> int:
    """Write the due dedup entries (of ``partitions``; with ``scan=False`` only those
    due on their leading edge), wait until Kafka has acknowledged them, then forget
    them.

    The records go straight to the producer, not through Faust's buffer: a
    burst of thousands would hold every stream until the buffer drains. What is
    awaited is the acknowledgement of each of them (``send`` returns it), not a
    flush of the whole producer, which waits for every changelog write and dead
    letter sent meanwhile too.
    """
    due = None
    try:
        due = dedup.take_due(partitions=partitions, scan=scan)
        if not due:
            return 0
        sent = []
        for record in sink.records(due.upserts):  # several upserts to a message
            sent.append(await app.producer.send(record.topic, record.key, record.value,
                                                None, None, None))
        await asyncio.gather(*sent)
        dedup.forget(due)
        activity.touch()
        return len(due)
    except asyncio.CancelledError:
        if due is not None:
            dedup.release(due)  # not written as far as we know: taken again, if ever
        raise
    except Exception:
        if due is not None:
            dedup.release(due)
        log.exception("flushing the dedup buffer failed; the entries stay for the next tick")
        return 0
