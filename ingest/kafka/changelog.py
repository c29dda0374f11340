"""The dedup table's changelog writes, straight to the Kafka client in batches, in the
order they were made.

A commit starts with a burst of changelog writes (every dedup entry changed since the
last one: 2,000-3,000 while a worker drains a backlog). Through Faust's producer
buffer (``Topic.send_soon``) each became a serialized message, a ``FutureMessage``
and its ``PendingMessage`` at once, all alive until its background sender had handed
them to the client one by one, with a sensor call and a callback each: a large part
of a draining worker's memory peak, and a twentieth of its event loop. Handed to the
client one ``send`` at a time (the previous version of this module), each write still
cost a coroutine, a metadata check, a future and two callbacks.

:class:`ChangelogWriter` keeps the writes of each changelog partition in a *group* as
they are made (the key and the entry the table holds anyway), and one task drains
the groups in the order they were opened: it serializes a group's writes as the
changelog topic does (``prepare_key``, ``prepare_value``) into an aiokafka batch
(``create_batch``, ``BatchBuilder.append``), gives the event loop a turn every
:data:`SLICE` writes, and hands the batch to the client (``send_batch``), a new one
when it is full. What the table gets back for a write (:class:`ChangelogSent`) is its
group's future: Kafka's acknowledgement of every batch of the group, with the
partition it goes to (``fut.message.partition``, which Faust's ``on_key_set``
reads). The checkpoint tracks each group once (``on_group``; step 4: the commit waits
for it), not each of its thousands of writes.

The order is what the loss-free steps rest on (``checkpoint.py``): a key's entry
written at a commit, its tombstone after the flush, and its next entry must reach
its changelog partition in that order, or a committed update could end behind a
tombstone. A partition's writes are in its group in the order made; a write made
while a group of its partition is being sent opens the next one, which the one task
sends after it; the client appends a partition's batches to its queue in the order it
got them (``send_batch`` waits until the partition's previous batch is taken for a
request). A group whose batch the client refuses, or still open when the task is
cancelled, fails its future: the next commit fails (``CheckpointFailed``) and
nothing is committed past it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)
SLICE = 256  # writes serialized between two turns of the loop


class BatchProducer(Protocol):
    """aiokafka's producer, as far as the writer uses it."""

    def create_batch(self) -> Any: ...

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any: ...


class ChangelogBatchError(Exception):
    """A changelog write does not fit in an empty batch of the client's."""


@dataclass(frozen=True, slots=True)
class ChangelogPlace:
    """Where a changelog write goes: what Faust's ``on_key_set`` reads of a sent
    message (``fut.message.partition``)."""

    topic: str
    partition: int


class ChangelogSent(asyncio.Future[Any]):
    """Kafka's acknowledgement of a group of changelog writes (every batch of it);
    ``message.partition`` is their changelog partition."""

    message: ChangelogPlace


@dataclass(slots=True)
class _Group:
    """The writes of one changelog partition made since its last group was taken."""

    partition: int
    sent: ChangelogSent
    writes: list[tuple[Any, Any, Any, Any]] = field(default_factory=list)


class ChangelogWriter:
    """A table's changelog writes in a group per partition, drained in the order the
    groups were opened by one task (made when a write finds none running), a batch
    of a group at a time straight to the client ``producer()`` gives."""

    def __init__(self, producer: Callable[[], BatchProducer], topic: Any,
                 slice_size: int = SLICE,
                 on_group: Callable[[ChangelogSent], object] = lambda sent: None) -> None:
        if slice_size < 1:
            raise ValueError("slice_size must be >= 1")
        self.producer = producer  # the Kafka client, once it is started
        self.topic = topic  # the changelog topic (serializes keys and values)
        self.slice_size = slice_size
        self.on_group = on_group  # each group's future, once, when it opens
        self.written = 0  # writes handed to the client
        self.batches = 0  # batches handed to the client
        self.most_queued = 0  # the most writes waiting at once
        self.queued = 0  # writes waiting, in open groups and the one being sent
        self._open: dict[int, _Group] = {}  # partition -> its open group
        self._sending: list[_Group] = []  # groups taken by the task, not handed over yet
        self._task: asyncio.Task[None] | None = None
        self._since_turn = 0  # writes serialized since the loop last turned

    def __len__(self) -> int:
        return self.queued

    def put(self, partition: int, key: Any, value: Any, key_serializer: Any = None,
            value_serializer: Any = None) -> ChangelogSent:
        """Queue one write (``value`` None: a tombstone); its group's acknowledgement."""
        group = self._open.get(partition)
        if group is None:
            sent = ChangelogSent()
            sent.message = ChangelogPlace(self.topic.get_topic_name(), partition)
            group = self._open[partition] = _Group(partition, sent)
            self.on_group(sent)
        group.writes.append((key, value, key_serializer, value_serializer))
        self.queued += 1
        self.most_queued = max(self.most_queued, self.queued)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        return group.sent

    async def _drain(self) -> None:
        try:
            while self._open:
                self._sending = list(self._open.values())  # in the order opened
                self._open = {}
                while self._sending:
                    group = self._sending[0]
                    try:
                        acks = await self._send(group)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # the commit waiting for it fails
                        log.error("dedup changelog writes failed to reach the client: %r", exc)
                        group.sent.set_exception(exc)
                    else:
                        _chain(acks, group.sent)
                    self.queued -= len(group.writes)
                    self._sending.pop(0)
        except asyncio.CancelledError:
            self._fail_queued()
            raise

    async def _send(self, group: _Group) -> list[asyncio.Future[Any]]:
        """Serialize ``group`` into batches and hand each to the client; their acks."""
        topic, name, producer = self.topic, self.topic.get_topic_name(), self.producer()
        acks: list[asyncio.Future[Any]] = []
        batch = producer.create_batch()
        for key, value, key_serializer, value_serializer in group.writes:
            key, headers = topic.prepare_key(key, key_serializer)
            value, headers = topic.prepare_value(value, value_serializer, headers=headers)
            headers = list(headers.items()) if isinstance(headers, dict) else headers or []
            if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                acks.append(await producer.send_batch(batch, name, partition=group.partition))
                self.batches += 1
                batch = producer.create_batch()
                if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                    raise ChangelogBatchError(f"a changelog write of {len(value or b'')} bytes "
                                              "does not fit in a batch")
            self._since_turn += 1
            if self._since_turn >= self.slice_size:  # the agents and timers between slices
                self._since_turn = 0
                await asyncio.sleep(0)
        acks.append(await producer.send_batch(batch, name, partition=group.partition))
        self.batches += 1
        self.written += len(group.writes)
        return acks

    def _fail_queued(self) -> None:
        for group in [*self._sending, *self._open.values()]:
            group.sent.cancel()  # not all written: no commit waits past it
        self._sending, self._open, self.queued = [], {}, 0

    def stop(self) -> None:
        """Cancel the task; the writes still queued fail (their commit with them)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        else:
            self._fail_queued()


def _chain(acks: list[asyncio.Future[Any]], sent: asyncio.Future[Any]) -> None:
    """``sent`` done when every one of ``acks`` is: failed if one failed."""
    waiting = len(acks)

    def done(future: asyncio.Future[Any]) -> None:
        nonlocal waiting
        waiting -= 1
        if sent.done():
            return
        if future.cancelled():
            sent.cancel()
        elif (error := future.exception()) is not None:
            sent.set_exception(error)
        elif waiting == 0:
            sent.set_result(future.result())

    for ack in acks:
        ack.add_done_callback(done)
