"""The dedup table's changelog writes, straight to the producer in slices, in the
order they were made.

A commit starts with a burst of changelog writes (every dedup entry changed since the
last one: 2,000-3,000 while a worker drains a backlog). Through Faust's producer
buffer (``Topic.send_soon``) each became a serialized message, a ``FutureMessage``
and its ``PendingMessage`` at once, all alive until its background sender had handed
them to the client one by one, with a sensor call and a callback each: a large part
of a draining worker's memory peak, and a twentieth of its event loop.

:class:`ChangelogWriter` keeps the writes in a queue as they are made (the partition,
the key and the entry the table holds anyway) and one task drains it in order: it
serializes a slice of :data:`SLICE` writes as the changelog topic does
(``prepare_key``, ``prepare_value``), hands each to the producer (``send``, as the
flush timer sends its graph records), then gives the event loop a turn. What the
table gets back (:class:`ChangelogSent`) is a future of Kafka's acknowledgement with
the partition it goes to (``fut.message.partition``, which Faust's ``on_key_set``
reads); the checkpoint tracks it (step 4: the commit waits for it).

The order is what the loss-free steps rest on (``checkpoint.py``): a key's entry
written at a commit, its tombstone after the flush, and its next entry must reach
its changelog partition in that order, or a committed update could end behind a
tombstone. One queue and one task for every write of the table, each handed to the
producer before the next (the producer keeps a partition's records in the order it
got them, as before, when Faust's buffer was the one queue). A write that fails, or
is still queued when the task is cancelled, fails its future: the next commit fails
(``CheckpointFailed``) and nothing is committed past it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
SLICE = 256  # writes serialized and handed to the producer between two turns of the loop


@dataclass(frozen=True, slots=True)
class ChangelogPlace:
    """Where a changelog write goes: what Faust's ``on_key_set`` reads of a sent
    message (``fut.message.partition``)."""

    topic: str
    partition: int


class ChangelogSent(asyncio.Future[Any]):
    """Kafka's acknowledgement of one changelog write; ``message.partition`` is its
    changelog partition."""

    message: ChangelogPlace


@dataclass(slots=True)
class _Write:
    partition: int
    key: Any
    value: Any
    key_serializer: Any
    value_serializer: Any
    sent: ChangelogSent


class ChangelogWriter:
    """A table's changelog writes in one queue, drained in order by one task (made
    when a write finds none running), a slice at a time straight to ``producer``."""

    def __init__(self, producer: Any, topic: Any, slice_size: int = SLICE) -> None:
        if slice_size < 1:
            raise ValueError("slice_size must be >= 1")
        self.producer = producer  # Faust's producer: send(topic, key, value, partition, ...)
        self.topic = topic  # the changelog topic (serializes keys and values)
        self.slice_size = slice_size
        self.written = 0  # writes handed to the producer
        self.most_queued = 0  # the longest the queue was
        self._queue: deque[_Write] = deque()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, partition: int, key: Any, value: Any, key_serializer: Any = None,
            value_serializer: Any = None) -> ChangelogSent:
        """Queue one write (``value`` None: a tombstone); its acknowledgement."""
        sent = ChangelogSent()
        sent.message = ChangelogPlace(self.topic.get_topic_name(), partition)
        self._queue.append(_Write(partition, key, value, key_serializer, value_serializer, sent))
        self.most_queued = max(self.most_queued, len(self._queue))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        return sent

    async def _drain(self) -> None:
        queue, topic = self._queue, self.topic
        name = topic.get_topic_name()
        try:
            while queue:
                for _ in range(min(self.slice_size, len(queue))):
                    write = queue[0]
                    try:
                        key, headers = topic.prepare_key(write.key, write.key_serializer)
                        value, headers = topic.prepare_value(write.value, write.value_serializer,
                                                             headers=headers)
                        acked = await self.producer.send(name, key, value, write.partition,
                                                         None, headers)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # the commit waiting for it fails
                        log.error("a dedup changelog write failed to reach the producer: %r", exc)
                        queue.popleft()
                        write.sent.set_exception(exc)
                        continue
                    queue.popleft()
                    self.written += 1
                    _chain(acked, write.sent)
                await asyncio.sleep(0)  # the agents and timers between two slices
        except asyncio.CancelledError:
            self._fail_queued()
            raise

    def _fail_queued(self) -> None:
        while self._queue:
            self._queue.popleft().sent.cancel()  # never written: no commit waits past it

    def stop(self) -> None:
        """Cancel the task; the writes still queued fail (their commit with them)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        else:
            self._fail_queued()


def _chain(acked: asyncio.Future[Any], sent: asyncio.Future[Any]) -> None:
    def done(future: asyncio.Future[Any]) -> None:
        if sent.done():
            return
        if future.cancelled():
            sent.cancel()
        elif (error := future.exception()) is not None:
            sent.set_exception(error)
        else:
            sent.set_result(future.result())

    acked.add_done_callback(done)
