"""A worker's processing, as plain code: one Pipeline per source topic.

The four pipelines run the stages of the embedded runner unchanged and share
the worker's topology (the enrichment side input) and its dedup buffer (a
MappedDedup, flushed by the worker's timer, not by the pipelines). A
message never makes :meth:`SourceProcessors.process` raise: a refused event
goes to the dead letters with its reason (by the Pipeline), and an unexpected
exception with reason ``processing_error`` and the traceback's summary (Faust
would ack the message anyway, and the agent would die).
"""

from __future__ import annotations

import logging
from collections import Counter

from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.deadletter import DeadLetters
from fleetgraph.ingest.errors import processing_error
from fleetgraph.ingest.kafka.dedup import MappedDedup, TimerFlushedStage
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.sinks import GraphSink
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas.codec import EventCodec
from fleetgraph.schemas.topics import SOURCE_TOPICS, Topic

log = logging.getLogger(__name__)


def source_position(topic: str, partition: int, offset: int) -> str:
    """Provenance of a Kafka message: ``topic/partition/offset``."""
    return f"{topic}/{partition}/{offset}"


class SourceProcessors:
    def __init__(
        self,
        registry: Registry,
        codec: EventCodec,
        names: TopicNames,
        dedup: MappedDedup,
        sink: GraphSink,
        dead_letters: DeadLetters,
        *,
        topology: Topology | None = None,
        validator: Validator | None = None,
    ) -> None:
        self.names = names
        self.dedup = dedup
        self.sink = sink
        self.dead_letters = dead_letters
        self.topology = topology if topology is not None else Topology()
        self._stage = TimerFlushedStage(dedup)
        self.pipelines: dict[Topic, Pipeline] = {
            topic: Pipeline.for_fleet(sink, dead_letters, registry=registry, codec=codec,
                                      validator=validator, topology=self.topology,
                                      dedup=self._stage, keep_origins=False)
            for topic in SOURCE_TOPICS
        }
        self.errors: Counter[str] = Counter()  # exception type -> count
        # Kafka topic -> (source topic, its name): names.source_of builds its map a call
        self._sources = {name: (topic, topic.value) for name, topic in names.sources.items()}

    def process(self, topic: str, partition: int, offset: int, payload: bytes | None) -> None:
        """Run one Kafka message through its topic's pipeline; never raises."""
        source_topic, name = self._sources.get(topic, (None, topic))
        message = Message(name, payload or b"", source_position(topic, partition, offset))
        try:
            if source_topic is None:
                raise ValueError(f"{topic!r} is not a source topic of prefix "
                                 f"{self.names.prefix!r}")
            self._stage.partition = partition
            self.pipelines[source_topic].process(message)
        except Exception as exc:
            self.errors[type(exc).__name__] += 1
            log.exception("processing %s failed; sent to the dead letters", message.source)
            try:
                self.dead_letters.put(message, processing_error(exc))
            except Exception:
                log.exception("could not dead-letter %s", message.source)

    def counts(self) -> dict[str, int]:
        """Totals over the four pipelines, for logs."""
        total: Counter[str] = Counter()
        for pipeline in self.pipelines.values():
            s = pipeline.stats
            total.update(received=s.received, accepted=s.accepted, upserts=s.upserts,
                         filtered=sum(s.filtered.values()), dead_lettered=s.dead_lettered,
                         stored_in_part=sum(s.warned.values()))
        total.update(processing_errors=sum(self.errors.values()),
                     collapsed=self.dedup.collapsed, flushed=self.dedup.flushed,
                     persisted=self.dedup.persisted, unmapped=self.dedup.unmapped,
                     buffered=len(self.dedup))
        return dict(total)
