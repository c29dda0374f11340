"""The stages wired together for one stream of messages.

``Pipeline.process`` runs one message through decode, validate, filter,
enrich, to-graph and dedup, and hands due upserts to the sink in batches. A
refused message goes to the dead-letter with its reason and the pipeline goes
on. The embedded runner and the Faust agents both drive a Pipeline.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graph_model.records import Upsert
from graph_model.types import Registry
from ingest.deadletter import DeadLetters
from ingest.errors import RejectedEvent
from ingest.message import Message
from ingest.sinks import GraphSink
from ingest.stages.decode import decode
from ingest.stages.dedup import DedupBuffer
from ingest.stages.enrich import enrich
from ingest.stages.filter import noise_reason
from ingest.stages.to_graph import GraphMapper
from ingest.stages.topology import Topology
from ingest.stages.validate import Validator
from schemas.codec import EventCodec
from schemas.topics import Topic


@dataclass
class PipelineStats:
    received: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    filtered: Counter[str] = field(default_factory=Counter)
    upserts: int = 0
    written: int = 0

    @property
    def dead_lettered(self) -> int:
        return sum(self.rejected.values())


class Pipeline:
    def __init__(
        self,
        registry: Registry,
        codec: EventCodec,
        sink: GraphSink,
        dead_letters: DeadLetters,
        *,
        validator: Validator | None = None,
        topology: Topology | None = None,
        dedup: DedupBuffer | None = None,
        batch_size: int = 5000,
    ) -> None:
        self.codec = codec
        self.sink = sink
        self.dead_letters = dead_letters
        self.validator = validator or Validator(registry)
        self.topology = topology if topology is not None else Topology()
        self.mapper = GraphMapper(registry)
        self.dedup = dedup if dedup is not None else DedupBuffer(window_us=5_000_000)
        self.batch_size = batch_size
        self.stats = PipelineStats()
        self.watermark = 0  # the newest event time seen
        self._pending: list[Upsert] = []

    def process(self, message: Message) -> None:
        self.stats.received += 1
        try:
            event = decode(self.codec, message)
            self.validator.check(event)
            reason = noise_reason(event)
            if reason is not None:
                self.stats.filtered[reason] += 1
                return
            if event.topic is Topic.INVENTORY:
                self.topology.apply(event.fields)
            enrich(event, self.topology)
            upserts = self.mapper.to_graph(event)
        except RejectedEvent as error:
            self.stats.rejected[error.reason] += 1
            self.dead_letters.put(message, error)
            return
        self.stats.accepted += 1
        self.stats.upserts += len(upserts)
        self.watermark = max(self.watermark, event.time)
        due = self.dedup.add(upserts, self.watermark)
        if due:
            self._pending.extend(due)
            if len(self._pending) >= self.batch_size:
                self._write()

    def flush(self) -> None:
        """Write everything buffered, dedup's window included."""
        self._pending.extend(self.dedup.drain())
        self._write()

    def _write(self) -> None:
        if self._pending:
            self.sink.write(self._pending)
            self.stats.written += len(self._pending)
            self._pending = []
