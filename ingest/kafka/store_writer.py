"""The sink side, as plain code: graph records from Kafka into a GraphStore.

Records are decoded in batches (an unreadable one goes to the dead letters
with its reason) and written with one ``upsert_nodes`` and one
``upsert_edges`` call per batch through ``ingest.sinks.StoreSink``. The store
is whatever ``store_factory`` makes (the embedded SQLite store, Cassandra):
stores merge by event time, so batches may be written in any order and twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graph_model.records import Upsert
from ingest.deadletter import DeadLetters
from ingest.errors import RejectedEvent
from ingest.kafka.processor import source_position
from ingest.kafka.records import GraphRecordCodec
from ingest.message import Message
from ingest.sinks import StoreSink
from storage.base import GraphStore

log = logging.getLogger(__name__)
STORE_ERROR = "store_error"


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


class GraphStoreWriter:
    def __init__(
        self,
        codec: GraphRecordCodec,
        store_factory: Callable[[], GraphStore],
        dead_letters: DeadLetters,
        *,
        attempts: int = 5,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.codec = codec
        self.store_factory = store_factory
        self.dead_letters = dead_letters
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self._sink: StoreSink | None = None
        self.records = 0
        self.written = 0

    @property
    def sink(self) -> StoreSink:
        if self._sink is None:
            self._sink = StoreSink(self.store_factory())
        return self._sink

    def decode(self, records: Sequence[KafkaRecord]) -> list[tuple[KafkaRecord, Upsert]]:
        """The upserts of a batch; refused records go to the dead letters."""
        decoded = []
        for record in records:
            self.records += 1
            try:
                decoded.append((record, self.codec.decode(record.topic, record.value or b"")))
            except RejectedEvent as error:
                self.dead_letters.put(record.message, error)
        return decoded

    def store(self, decoded: Sequence[tuple[KafkaRecord, Upsert]]) -> Exception | None:
        """Write decoded upserts, retrying the store; the last error when all attempts failed.

        Safe to run in a thread: it touches only the store.
        """
        upserts = [upsert for _, upsert in decoded]
        if not upserts:
            return None
        for attempt in range(1, self.attempts + 1):
            try:
                self.sink.write(upserts)
            except Exception as exc:
                log.warning("store write of %d upserts failed (attempt %d of %d): %r",
                            len(upserts), attempt, self.attempts, exc)
                if attempt == self.attempts:
                    return exc
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            else:
                self.written += len(upserts)
                return None
        return None  # pragma: no cover - the loop always returns

    def refuse(self, decoded: Sequence[tuple[KafkaRecord, Upsert]], error: Exception) -> None:
        """Send a batch the store refused to the dead letters (replayable from there)."""
        rejection = RejectedEvent(STORE_ERROR, repr(error))
        for record, _ in decoded:
            self.dead_letters.put(record.message, rejection)

    def write(self, records: Sequence[KafkaRecord]) -> int:
        """Decode, store, dead-letter what failed; return the upserts written."""
        decoded = self.decode(records)
        error = self.store(decoded)
        if error is not None:
            self.refuse(decoded, error)
            return 0
        return len(decoded)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.store.close()
            self._sink = None
