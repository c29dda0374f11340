"""The source-side checkpoint of a worker: what is processed, what the dedup
changelog holds, and what may be committed. The only module that touches a
private attribute of faust-streaming or aiokafka (:data:`PRIVATE_NAMES`;
``tests/architecture/test_private_access.py`` fails on any other); the versions
it was written against are pinned in ``pyproject.toml`` (:data:`PINNED`), and
``tests/kafka/test_checkpoint_contract.py`` fails when an upgrade changes what it
relies on (:data:`RELIES_ON`).

The ordering, for a message at offset ``o`` of a source partition ``p``:

1. **processed**: the agent runs the message through its pipeline; its updates
   are merged into the dedup buffer, in memory (``MappedDedup.take_in``), its
   dead letters handed to Faust's producer (tracked here: :meth:`SourceCheckpoint.track`).
   Faust acknowledges ``o`` when the agent takes its next message.
2. **persisted**: a commit starts (Faust's ``force_commit``); before anything
   is decided, :class:`CommitSensor` runs the ``before_commit`` callbacks: the
   dedup buffer writes every entry changed since the last commit to its table,
   i.e. to the changelog partition of ``p`` (each partition's group of writes
   tracked here: ``changelog.py``).
3. **committable**: Faust's ``_new_offset`` picks the new commit of ``p``: one
   past the run of acknowledged offsets that starts at the current commit.
   Patched here (:func:`may_commit`): nothing is committed on a source partition
   whose offset at the commit was never acknowledged (Faust would commit past
   one missing message); offsets Faust skipped over ("gaps", for compacted
   topics) are never acknowledged on source topics.
4. **in Kafka**: before the offsets go to Kafka (Faust's ``_handle_attached``,
   patched here) the commit waits until Kafka has acknowledged every tracked
   write (changelog entries, tombstones, dead letters) sent before it. If one
   failed, nothing is committed again by this worker: it crashes, and the
   next owner reads the messages again.
5. **committed**: Faust flushes its producer and commits ``o + 1``.

Independently, the flush timer (``dedup_table.flush_due``) produces a due
entry's **graph record**, waits until Kafka has acknowledged it, and only then
deletes the entry (a changelog tombstone, tracked like any write). So, for a
worker killed at any point:

- before 5 (processed, maybe persisted, maybe its graph record produced): the
  offset is not committed; the next owner of ``p`` reads the message again
  (*replayed*) and merges it into the entry rebuilt from the changelog, if any,
  and the store merges a graph record written twice (idempotent upserts);
- after 5, before its graph record is acknowledged: the changelog has the
  entry; the next owner rebuilds it and flushes it: *nothing lost*;
- after the graph record, before its tombstone: the entry is flushed again, a
  duplicate graph record the store merges;
- the sink (``store_consumer.py``) commits graph offsets only after the store
  has the batch: killed before, the batch is read and stored again.

Every path ends in a replay merged by the dedup buffer and the stores; none in
a committed offset whose updates are neither in the changelog nor on a graph
topic.

The stall guard (``stall_guard.py``) reads partitions' states and rewinds a
stalled one through :meth:`SourceCheckpoint.states` and
:meth:`SourceCheckpoint.rewind`.

Faust's fetch loop (``_drain_messages``) hands each message to its partition's
handler with ``wait_first(handler(message), suspend_flow.wait())``: four tasks and an
``asyncio.wait`` a message, about a tenth of a worker's event loop, though the
handler almost never suspends (it decodes the message and puts it into its
stream's buffer). :func:`handle_first` (patched in as the consumer's ``wait_first``)
runs the handler's first step in place, then gives the loop one turn (as the
tasks did); only a handler that suspends (flow control, a full producer buffer or
stream buffer) goes on as a task raced against the flow's suspension, as before.
Step 1 is unchanged: what reaches the stream, and when Faust acknowledges it, are
the same; the fetch loop ignores the result.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Collection, Coroutine, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import faust
from faust.exceptions import ProducerSendError

log = logging.getLogger(__name__)

#: The exact versions this module was written and tested against; ``pyproject.toml``
#: pins them and the contract test checks the installed ones.
PINNED: dict[str, str] = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}

#: The consumer class the workers get (``faust.App(broker="kafka://...")``).
CONSUMER_CLASS = "faust.transport.drivers.aiokafka:Consumer"
#: The class of the ``dedup`` table's base (``faust.Table``).
TABLE_CLASS = "faust.tables.table:Table"
#: The class of the app's producer, whose Kafka client the changelog writer uses.
PRODUCER_CLASS = "faust.transport.drivers.aiokafka:Producer"
#: The class whose ``wait_first`` the consumer inherits (mode's Service).
SERVICE_CLASS = "mode.services:Service"


@dataclass(frozen=True)
class Reliance:
    """One thing of Faust's consumer (or of ``owner``) this module relies on.

    ``use``: "patched" (replaced here, wrapping the original), "ordering" (the
    code whose order of calls the steps above rest on), "called" or "state"
    (an instance attribute read or changed here). ``signature`` is the
    method's, without annotations; ``source_sha256`` the hash of its source
    (``inspect.getsource``) in the pinned version, for the patched and ordering ones.
    """

    name: str
    use: str
    why: str
    signature: str | None = None
    source_sha256: str | None = None
    owner: str = CONSUMER_CLASS


RELIES_ON: tuple[Reliance, ...] = (
    Reliance("_new_offset", "patched", "step 3: the new commit of a partition",
             "(self, tp)", "1d2c7ea89a7ad4f1a216c1d51936e569162cd66bd56f889e13fd29c910b58eb0"),
    Reliance("_add_gap", "patched", "step 3: offsets skipped over counted as acknowledged",
             "(self, tp, offset_from, offset_to)",
             "4df2573ded7c1c2cde04dc6bde6d4480cb5875ef565256e56966b585ae39b1c1"),
    Reliance("_handle_attached", "patched", "step 4: the last await before the offsets go out",
             "(self, commit_offsets)",
             "48efe89d6c633cf627a04c75e5cdcc98e497fc7d05a9d87fd0d63937bfc9f34b"),
    Reliance("force_commit", "ordering", "steps 2-5: the sensor, then the filter, then commit",
             "(self, topics=None, start_new_transaction=True)",
             "cc094614d22c70fb03606f8e5b940fddedcc7d46648d53ae6ec53cab1546be13"),
    Reliance("_commit_tps", "ordering", "steps 3-5: _handle_attached before _commit_offsets",
             "(self, tps, start_new_transaction)",
             "a20e230b05ae8b151ac9f78fa77a102003a948c66c24c9d3588e39cb12859b7e"),
    Reliance("_filter_committable_offsets", "ordering", "step 3: _new_offset decides",
             "(self, tps)", "dc5e9baf5d994485473ce80aed1873b9318f02d735fde21e285de3d0c52a5e0e"),
    Reliance("_commit_offsets", "ordering", "step 5: producer flushed, then offsets committed",
             "(self, offsets, start_new_transaction=True)",
             "1a6979904118844111259d182ca1c6e92ccc16364ccbe55c58e59d6e254a7adb"),
    Reliance("_drain_messages", "ordering", "where gaps are added and read offsets set",
             "(self, fetcher)", "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"),
    Reliance("wait_first", "patched", "step 1: the fetch loop's race of a message's handler "
             "against the flow's suspension", "(self, *coros, timeout=None)",
             "feade6a31f8a67897cf687c54c66f5f4535288050bbaac07249ce2063d36ae2e",
             owner=SERVICE_CLASS),
    Reliance("seek", "ordering", "a rewind: the fetch position and the read offset",
             "(self, partition, offset)",
             "b86a9fe05f956b30cf299c787b6787c6e0349cbf1ae556f2456a1e97b15dbb22"),
    Reliance("on_key_set", "ordering", "step 2: a table write goes through send_changelog "
             "(changelog.py's writer), whose result's message.partition it reads",
             "(self, key, value)",
             "a370e35ca55c2c7e36e93f0d4b485927c32d49199043cab2314572846184dd94",
             owner=TABLE_CLASS),
    Reliance("on_key_del", "ordering", "the flush's tombstone goes through send_changelog",
             "(self, key)", "4f2900b2f9d24a080d5cbc9eaa1f5566f1d11e56916e79b02f079c52f4751053",
             owner=TABLE_CLASS),
    Reliance("_ensure_producer", "called", "the dedup changelog's batches go to the Kafka "
             "client under Faust's producer (changelog.py; Faust has no batch call)", "(self)",
             owner=PRODUCER_CLASS),
    Reliance("resume_partitions", "called", "a rewind: back into the fetch set", "(self, tps)"),
    Reliance("highwater", "called", "a partition's end offset", "(self, tp)"),
    Reliance("assignment", "called", "the partitions to watch", "(self)"),
    Reliance("_acked", "state", "step 3: the acknowledged offsets, a mapping of lists"),
    Reliance("_committed_offset", "state", "the last commit, a mapping (None for 0)"),
    Reliance("_read_offset", "state", "the last offset fetched for a partition, a mapping"),
    Reliance("_buffered_partitions", "state", "partitions out of the fetch set, full buffer"),
    Reliance("_paused_partitions", "state", "paused partitions (a stall's log line)"),
    Reliance("_active_partitions", "state", "the fetch set, None for all (a stall's log line)"),
)

#: The private names of faust, mode and aiokafka objects used here, and nowhere else
#: (``tests/architecture/test_private_access.py`` scans for them, with
#: :data:`OTHER_PRIVATE_NAMES`).
PRIVATE_NAMES: frozenset[str] = frozenset(r.name for r in RELIES_ON if r.name.startswith("_"))

#: Private names of Faust's and aiokafka's consumers not relied on, which no module
#: may touch either (the way to them is a change here, with the contract test).
OTHER_PRIVATE_NAMES: frozenset[str] = frozenset({
    "_thread", "_ensure_consumer", "_fetcher", "_subscription", "_coordinator",
    "_acked_index", "_unacked_messages", "_gap", "_n_acked", "_attachments",
    "_commit", "_commit_fut", "_on_changelog_sent", "_send_changelog",
})

#: Faust's public hooks this module overrides or calls (signatures in the contract test).
PUBLIC_HOOKS: dict[str, str] = {
    "faust.Sensor.on_commit_initiated": "(self, consumer)",
    "faust.Table.partition_for_key": "(self, key)",
    "faust.Table.send_changelog":
        "(self, partition, key, value, key_serializer=None, value_serializer=None)",
    # the dedup changelog's writer (changelog.py): serialized as the topic does, then
    # in batches straight to the Kafka client (kafka_client)
    "faust.Topic.prepare_key": "(self, key, key_serializer, schema=None, headers=None)",
    "faust.Topic.prepare_value": "(self, value, value_serializer, schema=None, headers=None)",
    "aiokafka.AIOKafkaProducer.create_batch": "(self)",
    "aiokafka.AIOKafkaProducer.send_batch": "(self, batch, topic, *, partition)",
    "aiokafka.producer.message_accumulator.BatchBuilder.append":
        "(self, *, timestamp, key, value, headers=[])",
    # the flush timer's graph records
    "faust.transport.drivers.aiokafka.Producer.send":
        "(self, topic, key, value, partition, timestamp, headers, *, transactional_id=None)",
}


def kafka_client(producer: Any) -> Any:
    """The aiokafka producer under Faust's started ``producer``: the dedup changelog's
    writes go to it in batches (``create_batch``, ``send_batch``), which Faust's
    producer does not offer. Raises Faust's ``NotReady`` before the producer started."""
    return producer._ensure_producer()


def may_commit(committed: int | None, acked: Collection[int]) -> bool:
    """The commit rule of a source partition: its commit may move only when the
    offset at the commit (``committed``; None is Faust's 0) was acknowledged, i.e.
    processed. Faust then commits one past the run of acknowledged offsets that
    starts there. A missing offset (a message that never reached the agent, or one
    Faust skipped over) holds the commit before it: the partition stalls behind its
    end and the stall guard reads it again from the commit."""
    return bool(acked) and min(acked) <= (committed or 0)


class CheckpointFailed(ProducerSendError):
    """A write the commit waited for (changelog entry or dead letter) failed. A
    ProducerSendError, so Faust crashes the consumer instead of going on."""


@dataclass
class PartitionState:
    """What the checkpoint knows of one source partition."""

    tp: Any
    end: int | None  # the broker's end offset, as of the last fetch
    read: int | None  # the last offset the stream took in (Faust's read offset)
    committed: int | None  # the next offset to process, as committed

    @property
    def behind(self) -> bool:
        """Records on the broker are not processed and committed yet."""
        return self.end is not None and self.end > (self.committed or 0)


class SourceCheckpoint:
    """The commit of source offsets on one Faust consumer (see the module's steps).

    Made on a consumer, it patches it at once (before its first fetch);
    :func:`checkpoint_of` gives an app's one, with its :class:`CommitSensor`.
    """

    def __init__(self, consumer: Any, topics: Iterable[str] = ()) -> None:
        self.consumer = consumer
        self.topics: set[str] = set(topics)  # the source topics watched
        self.before_commit: list[Callable[[], object]] = []  # step 2
        self.pending: list[Awaitable[Any]] = []  # writes sent since the last commit
        self.failure: BaseException | None = None
        self.held = 0  # commits held because the next offset was not acknowledged
        self.gaps = 0  # gap acknowledgements refused
        self.handled_in_place = 0  # messages whose handler finished without a task
        self._patch_new_offset()
        self._patch_add_gap()
        self._patch_handle_attached()
        self._patch_wait_first()

    def watch(self, topics: Iterable[str]) -> None:
        """Apply the commit rule (and refuse gaps) on ``topics``."""
        self.topics.update(topics)

    # -- steps 1 and 2: what the commit waits for

    def track(self, sent: Awaitable[Any]) -> None:
        """A write (a changelog entry, a dead letter) the next commit must wait for."""
        self.pending.append(sent)

    def initiated(self) -> None:
        """Step 2, from the commit sensor: persist what the commit covers."""
        for persist in self.before_commit:
            persist()

    async def settle(self) -> None:
        """Step 4: wait until Kafka has every write tracked so far; raise
        :class:`CheckpointFailed` (and never commit again) if one failed."""
        sent, self.pending = self.pending, []
        waiting = [asyncio.ensure_future(s) for s in sent]
        if waiting:
            await asyncio.wait(waiting)
        for future in waiting:
            error = (asyncio.CancelledError() if future.cancelled()
                     else future.exception())
            if error is not None and self.failure is None:
                self.failure = error
        if self.failure is not None:
            log.error("a write the commit of source offsets waits for failed (%r): no source "
                      "offset is committed by this worker again", self.failure)
            raise CheckpointFailed(f"a changelog or dead-letter write failed: {self.failure!r}")

    # -- step 3: the commit rule on Faust's consumer

    def _patch_new_offset(self) -> None:
        consumer = self.consumer
        original = consumer._new_offset
        topics = self.topics

        def new_offset(tp: Any) -> int | None:
            if self.failure is not None:
                return None
            if tp.topic in topics and not may_commit(consumer._committed_offset.get(tp),
                                                     consumer._acked.get(tp) or ()):
                if consumer._acked.get(tp):
                    self.held += 1
                return None
            result: int | None = original(tp)
            return result

        consumer._new_offset = new_offset

    def _patch_add_gap(self) -> None:
        consumer = self.consumer
        original = consumer._add_gap
        topics = self.topics

        async def add_gap(tp: Any, offset_from: int, offset_to: int) -> None:
            if tp.topic not in topics:
                await original(tp, offset_from, offset_to)
                return
            self.gaps += 1
            log.warning("source partition %s:%s: offsets %d-%d were skipped on the way to "
                        "the agent; not acknowledging them (they are read again)",
                        tp.topic, tp.partition, offset_from, offset_to - 1)

        consumer._add_gap = add_gap

    def _patch_handle_attached(self) -> None:
        consumer = self.consumer
        original = consumer._handle_attached

        async def handle_attached(offsets: Any) -> None:
            await original(offsets)
            await self.settle()

        consumer._handle_attached = handle_attached

    def _patch_wait_first(self) -> None:
        consumer = self.consumer
        original = getattr(consumer, "wait_first", None)
        if original is None:  # no fetch loop of Faust's (a test's stand-in)
            return

        async def wait_first(*coros: Any, timeout: Any = None) -> Any:
            if (timeout is None and len(coros) == 2 and asyncio.iscoroutine(coros[0])
                    and getattr(coros[1], "cr_code", None) is _FLOW_WAIT):
                result = handle_first(coros[0], coros[1])
                if result is None:
                    self.handled_in_place += 1
                    # a turn of the loop a message, as the tasks and the wait gave: without
                    # it the fetch loop ran up to 100 messages between two turns and one
                    # bench run had 112 stalled-partition re-reads instead of 0-24
                    await asyncio.sleep(0)
                    return None
                return await original(*result)
            return await original(*coros, timeout=timeout)

        consumer.wait_first = wait_first

    # -- what the stall guard reads and does

    def state(self, tp: Any) -> PartitionState:
        consumer = self.consumer
        return PartitionState(tp, consumer.highwater(tp), consumer._read_offset.get(tp),
                              consumer._committed_offset.get(tp))

    def states(self) -> list[PartitionState]:
        """The watched partitions assigned to the consumer."""
        return [self.state(tp) for tp in self.consumer.assignment() if tp.topic in self.topics]

    def describe(self, tp: Any) -> str:
        consumer = self.consumer
        active = consumer._active_partitions
        return (f"active={active is None or tp in active} "
                f"paused={tp in consumer._paused_partitions} "
                f"buffered={tp in consumer._buffered_partitions} "
                f"flow={consumer.flow_active}")

    async def rewind(self, tp: Any, offset: int) -> None:
        """Put ``tp`` back into the fetch set and read it again from ``offset``."""
        consumer = self.consumer
        consumer._buffered_partitions.discard(tp)
        consumer.resume_partitions([tp])
        await consumer.seek(tp, offset)


_FLOW_WAIT = asyncio.Event.wait.__code__  # the code of ``consumer.suspend_flow.wait()``


def handle_first(handler: Coroutine[Any, Any, Any], flow: Coroutine[Any, Any, Any]
                 ) -> tuple[Awaitable[Any], Coroutine[Any, Any, Any]] | None:
    """Run ``handler`` (a fetched message's handler, not started) up to its first
    suspension. None: it finished (``flow``, the wait for the flow's suspension, is
    closed unstarted); else the handler's remainder and ``flow``, for Faust's
    ``wait_first`` to race as it raced the whole handler. An exception the handler
    raises propagates, as from ``wait_first``."""
    try:
        suspended_on = handler.send(None)
    except StopIteration:
        flow.close()
        return None
    except BaseException:
        flow.close()
        raise
    return _Remainder(handler, suspended_on), flow


class _Remainder:
    """The rest of a coroutine that suspended on ``suspended_on``: awaiting it goes on
    where it stopped, as ``await coroutine`` would have (sends, throws, cancellation)."""

    __slots__ = ("coroutine", "suspended_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], suspended_on: Any) -> None:
        self.coroutine = coroutine
        self.suspended_on = suspended_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, yielded = self.coroutine, self.suspended_on
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:
                try:
                    yielded = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coroutine.send(sent)
                except StopIteration as stop:
                    return stop.value


class CommitSensor(faust.Sensor):
    """Step 2: Faust calls ``on_commit_initiated`` first thing in a commit, before
    it picks the offsets."""

    def __init__(self, checkpoint: SourceCheckpoint) -> None:
        super().__init__()
        self.checkpoint = checkpoint

    def on_commit_initiated(self, consumer: Any) -> Any:
        self.checkpoint.initiated()
        return None


_OF_APP: weakref.WeakKeyDictionary[Any, SourceCheckpoint] = weakref.WeakKeyDictionary()


def checkpoint_of(app: Any) -> SourceCheckpoint:
    """The app's checkpoint, made (consumer patched, sensor added) on the first call."""
    checkpoint = _OF_APP.get(app)
    if checkpoint is None:
        checkpoint = _OF_APP[app] = SourceCheckpoint(app.consumer)
        app.sensors.add(CommitSensor(checkpoint))
    return checkpoint
