"""The sink side, as plain code: graph records from Kafka into a GraphStore.

Records are decoded in batches (an unreadable one goes to the dead letters
with its reason) and written with one ``upsert_nodes`` and one
``upsert_edges`` call per batch through ``fleetgraph.ingest.sinks.StoreSink``. The store
is whatever ``store_factory`` makes (the embedded SQLite store, Cassandra):
stores merge by event time, so batches may be written in any order and twice.
The read models of what it writes are kept by
:class:`~fleetgraph.ingest.kafka.sink_read_models.SinkReadModels`, recomputed in a
thread of their own: a batch never waits for them.

A store that is down is not bad input. Each backend tells the two apart itself: it
raises ``StorageUnavailable`` when it cannot be reached (its driver's outage errors
mapped at its boundary) and ``StorageError`` when it refuses what it was given. On
``StorageUnavailable`` the batch is retried with capped
exponential backoff until the store is back (the sink's partitions wait:
backpressure), every retry logged with its reason, the store rebuilt (a new
connection) every few failures. Past ``StoreRetry.deadline_s`` the writer raises
``StoreUnavailable`` and the worker stops, its offsets uncommitted, rather than
dead-lettering good data. Anything else (a refusal, ``StorageError``, or an error
planning the write) is retried a few times and then dead-lettered as ``store_error``:
no one batch stops the worker, only an outage does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from fleetgraph.graph_model.records import Upsert
from fleetgraph.ingest.deadletter import DeadLetters
from fleetgraph.ingest.errors import IngestError, RejectedEvent
from fleetgraph.ingest.kafka.processor import source_position
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.sink_read_models import SinkReadModels
from fleetgraph.ingest.message import Message
from fleetgraph.settings import Settings
from fleetgraph.storage.base import GraphStore, StorageUnavailable

log = logging.getLogger(__name__)
STORE_ERROR = "store_error"
CLOSE_WAIT_S = 60.0  # how long close() waits for a write in progress


class StoreUnavailable(IngestError):
    """The store stayed unreachable past the sink's deadline: the worker must stop."""


@dataclass(frozen=True)
class StoreRetry:
    """How the sink waits for its store."""

    first_backoff_s: float = 0.5
    max_backoff_s: float = 10.0
    deadline_s: float = 900.0  # an outage longer than this stops the worker
    refusal_attempts: int = 3  # tries of a batch the store refuses (not an outage)
    reconnect_every: int = 3  # consecutive outage failures between store rebuilds

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreRetry:
        return cls(max_backoff_s=settings.ingest.store_retry_max_backoff_s,
                   deadline_s=settings.ingest.store_outage_deadline_s)

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...)."""
        return float(min(self.max_backoff_s, self.first_backoff_s * 2.0 ** min(failures - 1, 30)))


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    value: bytes | None

    @property
    def message(self) -> Message:
        return Message(self.topic, self.value or b"",
                       source_position(self.topic, self.partition, self.offset))


def _why(error: BaseException) -> str:
    """The error and what caused it, on one line."""
    cause = error.__cause__
    return f"{error!r}" + (f" (caused by {cause!r})" if cause is not None else "")


class GraphStoreWriter:
    def __init__(
        self,
        codec: GraphRecordCodec,
        store_factory: Callable[[], GraphStore],
        dead_letters: DeadLetters,
        *,
        retry: StoreRetry = StoreRetry(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.codec = codec
        self.store_factory = store_factory
        self.dead_letters = dead_letters
        self.retry = retry
        self.sleep = sleep
        self.clock = clock
        self._sink: SinkReadModels | None = None
        self.records = 0
        self.written = 0
        self.retries = 0  # failed store writes that were tried again
        self.reconnects = 0
        self.failure: StoreUnavailable | None = None  # set when the worker must stop
        self._busy = threading.Lock()  # held while a batch is written

    @property
    def sink(self) -> SinkReadModels:
        if self._sink is None:
            self._sink = SinkReadModels(self.store_factory())  # keeps the read models
        return self._sink

    def decode(self, records: Sequence[KafkaRecord]) -> list[tuple[KafkaRecord, Upsert]]:
        """The upserts of a batch (a record carries one or more); a refused record goes
        to the dead letters whole."""
        decoded: list[tuple[KafkaRecord, Upsert]] = []
        for record in records:
            self.records += 1
            try:
                upserts = self.codec.decode_all(record.topic, record.value or b"")
            except RejectedEvent as error:
                self.dead_letters.put(record.message, error)
                continue
            decoded.extend((record, upsert) for upsert in upserts)
        return decoded

    def decode_chunks(self, records: Sequence[KafkaRecord], upserts: int
                      ) -> Iterator[list[tuple[KafkaRecord, Upsert]]]:
        """The upserts of a batch, decoded as they are written: at most ``upserts`` at a
        time (a record carrying more is split), so a sink write holds that many and
        their store writes, not the whole fetch's."""
        if upserts < 1:
            raise ValueError("a sink write must hold at least one upsert")
        chunk: list[tuple[KafkaRecord, Upsert]] = []
        for record in records:
            chunk.extend(self.decode([record]))
            while len(chunk) >= upserts:
                yield chunk[:upserts]
                chunk = chunk[upserts:]
        if chunk:
            yield chunk

    def store(self, decoded: Sequence[tuple[KafkaRecord, Upsert]]) -> Exception | None:
        """Write decoded upserts, waiting for the store while it is down.

        Returns None when written, or the error when the store refused the batch
        ``refusal_attempts`` times (the caller dead-letters it); raises
        StoreUnavailable when an outage outlasts the deadline. Blocks while it
        waits (run it in a thread); touches only the store.
        """
        upserts = [upsert for _, upsert in decoded]
        if not upserts:
            return None
        with self._busy:
            return self._store(upserts)

    def _store(self, upserts: list[Upsert]) -> Exception | None:
        started = self.clock()
        failures = refusals = 0
        while True:
            try:
                self.sink.write(upserts)
            except Exception as exc:
                failures += 1
                waited = self.clock() - started
                if not isinstance(exc, StorageUnavailable):
                    refusals += 1
                    if refusals >= self.retry.refusal_attempts:
                        log.error("the store refused a batch of %d upserts %d times; "
                                  "dead-lettering it: %r", len(upserts), refusals, exc)
                        return exc
                    reason = "refused"
                elif waited >= self.retry.deadline_s:
                    log.critical("the store has been unavailable for %.0f s (deadline %.0f s); "
                                 "stopping: %r", waited, self.retry.deadline_s, exc)
                    raise StoreUnavailable(
                        f"store unavailable for {waited:.0f} s ({failures} failed writes of "
                        f"{len(upserts)} upserts; deadline {self.retry.deadline_s:g} s): {exc!r}"
                    ) from exc
                else:
                    reason = "unavailable"
                    if failures % self.retry.reconnect_every == 0:
                        self._reconnect()
                delay = self.retry.backoff(failures)
                if reason == "unavailable":
                    delay = max(0.0, min(delay, self.retry.deadline_s - waited))
                log.warning("store %s: write of %d upserts failed (%d in a row, %.1f s); "
                            "retrying in %.1f s: %s",
                            reason, len(upserts), failures, waited, delay, _why(exc))
                self.retries += 1
                self.sleep(delay)
            else:
                if failures:
                    log.warning("store back: %d upserts written after %d failed attempts "
                                "in %.1f s", len(upserts), failures, self.clock() - started)
                self.written += len(upserts)
                return None

    def _reconnect(self) -> None:
        """Drop the store; the next attempt makes a new one (a fresh connection)."""
        sink, self._sink = self._sink, None
        if sink is None:
            return
        self.reconnects += 1
        try:
            sink.store.close()
        except Exception as exc:
            log.warning("closing the unavailable store failed: %r", exc)

    def refuse(self, decoded: Sequence[tuple[KafkaRecord, Upsert]], error: Exception) -> None:
        """Send the records of a batch the store refused to the dead letters, each once
        (replayable from there)."""
        rejection = RejectedEvent(STORE_ERROR, repr(error))
        seen: set[tuple[str, int, int]] = set()
        for record, _ in decoded:
            where = (record.topic, record.partition, record.offset)
            if where not in seen:
                seen.add(where)
                self.dead_letters.put(record.message, rejection)

    def write(self, records: Sequence[KafkaRecord]) -> int:
        """Decode, store, dead-letter what failed; return the upserts decoded (written
        unless dead-lettered)."""
        decoded = self.decode(records)
        error = self.store(decoded)
        if error is not None:
            self.refuse(decoded, error)
            return 0
        return len(decoded)

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Close the store, once a write in progress (in the sink's thread: a worker
        stopped meanwhile) has ended or after ``wait_s``: a store closed under a write
        left its thread waiting for good, and the process never exited."""
        if not self._busy.acquire(timeout=wait_s):
            log.warning("closing the store while a write is still in progress after %.0f s",
                        wait_s)
        else:
            self._busy.release()
        if self._sink is not None:
            if not self._sink.wait(wait_s):  # a recomputation in its own thread
                log.warning("closing the store while its read models are still being "
                            "recomputed after %.0f s", wait_s)
            self._sink.store.close()
            self._sink = None
