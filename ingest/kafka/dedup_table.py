"""The dedup buffer on a worker and its way out to the graph topics.

- the ``dedup`` table (memory store, changelog-backed) holding buffered
  updates, keyed by source partition so an entry's changelog partition is the
  partition its updates came from (:mod:`fleetgraph.ingest.kafka.dedup`);
- its part in the commit of source offsets (the order is
  :mod:`fleetgraph.ingest.kafka.checkpoint`'s): the buffer's changed entries are
  written to the table when a commit starts, and the commit waits until Kafka has
  every changelog write made before it;
- a timer that flushes the due entries to the graph topics, waits for the
  producer, then deletes them (or, written on their leading edge, empties them
  until their window ends): every ``LEADING_TICK_S`` it takes the entries due on
  their leading edge, and every ``interval_s`` it scans them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import faust

from fleetgraph.ingest.kafka.activity import Activity
from fleetgraph.ingest.kafka.checkpoint import SourceCheckpoint, checkpoint_of
from fleetgraph.ingest.kafka.dedup import MappedDedup, partition_of
from fleetgraph.ingest.kafka.sinks import GraphTopicSink
from fleetgraph.ingest.stages.dedup import DedupMode

log = logging.getLogger(__name__)
DEDUP_TABLE = "dedup"
LEADING_TICK_S = 0.1  # how often the entries due on their leading edge are taken


class DedupTable(faust.Table[str, dict[str, Any]]):
    """A table whose changelog partition is the one named in the key, so entries can be
    deleted from a timer, outside any stream event; it hands each changelog write to
    its ``checkpoint``, so that the next commit waits until Kafka has it: Faust's
    commit flushes its producer buffer, but a message its background sender has
    taken off the buffer and not yet handed to the client is in neither (killed
    right after such a commit, a worker lost an update its offsets covered)."""

    checkpoint: SourceCheckpoint | None = None

    def partition_for_key(self, key: Any) -> int:
        return partition_of(str(key))

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        sent = super().send_changelog(*args, **kwargs)
        if self.checkpoint is not None:
            self.checkpoint.track(sent)
        return sent


def add_dedup_table(app: Any, window_us: int, partitions: int, mode: DedupMode = "leading"
                    ) -> tuple[DedupTable, MappedDedup]:
    """The ``dedup`` table of ``app`` and the buffer over it, written behind (just
    before each commit); a revoked partition's entries are left to its next owner."""
    table = app.tables.add(DedupTable(
        app, name=DEDUP_TABLE, beacon=app.tables.beacon, partitions=partitions,
        help="Buffered graph updates by source partition and record key.",
    ))
    dedup = MappedDedup(table, window_us, write_behind=True, mode=mode)
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
    of every entry; in between, with a leading edge, every ``LEADING_TICK_S`` the
    entries due on it. One loop, so no two flushes overlap (a task rather than a
    Faust timer, which warns whenever a run outlasts its short interval)."""
    tick_s = min(interval_s, LEADING_TICK_S) if dedup.leading else interval_s

    async def flush_dedup() -> None:
        last_scan = time.monotonic()
        while not app.should_stop:
            await app.sleep(tick_s)
            now = time.monotonic()
            scan = now - last_scan >= interval_s - tick_s / 2
            if scan:
                last_scan = now
            await flush_due(app, dedup, sink, activity, owned(), scan=scan)

    app.task(flush_dedup)


async def flush_due(app: Any, dedup: MappedDedup, sink: GraphTopicSink,
                    activity: Activity, partitions: set[int] | None = None, *,
                    scan: bool = True) -> int:
    """Write the due dedup entries (of ``partitions``; with ``scan=False`` only those
    due on their leading edge), wait until Kafka has them, then forget them.

    The records go straight to the producer, not through Faust's buffer: a
    burst of thousands would hold every stream until the buffer drains.
    """
    try:
        due = dedup.take_due(partitions=partitions, scan=scan)
        if not due:
            return 0
        sent = []
        for record in sink.records(due.upserts):  # several upserts to a message
            sent.append(await app.producer.send(record.topic, record.key, record.value,
                                                None, None, None))
        await asyncio.gather(*sent)
        await app.producer.flush()
        dedup.forget(due)
        activity.touch()
        return len(due)
    except Exception:
        log.exception("flushing the dedup buffer failed; the entries stay for the next tick")
        return 0
