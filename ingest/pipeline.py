"""The stages wired together for one stream of messages.

``Pipeline.process`` runs one message through decode, validate, filter,
enrich, to-graph and dedup, and hands due upserts to the sink in batches. A
refused message goes to the dead-letter with its reason and the pipeline goes
on; so does one a stage fails on unexpectedly (``processing_error``), and one
whose update the store refuses (``store_refused``: the batch is split until
the refused upserts are found, the others are written). No single message can
stop a run; only a store outage does. The embedded runner and the Faust agents
both drive a Pipeline, built by :meth:`Pipeline.for_fleet`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from fleetgraph.core.units import SECOND_US
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Upsert
from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.deadletter import DeadLetters
from fleetgraph.ingest.errors import STORE_REFUSED, RejectedEvent, processing_error
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.sinks import GraphSink
from fleetgraph.ingest.stages.decode import decode
from fleetgraph.ingest.stages.dedup import Dedup, DedupBuffer
from fleetgraph.ingest.stages.enrich import enrich, read_by_to_graph
from fleetgraph.ingest.stages.filter import noise_reason
from fleetgraph.ingest.stages.readings import reading_path
from fleetgraph.ingest.stages.to_graph import GraphMapper
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas.codec import EventCodec, load_event_codec
from fleetgraph.schemas.topics import Topic
from fleetgraph.settings import IngestSettings
from fleetgraph.storage.base import StorageUnavailable

log = logging.getLogger(__name__)
Origin = tuple[int, Message]  # a message and its turn in the run (1, 2, ...)
NO_ORIGINS: list[Origin] = []  # of an upsert whose messages are not known (never added to)


@dataclass
class PipelineStats:
    received: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    filtered: Counter[str] = field(default_factory=Counter)
    # accepted events stored in part (unknown attributes), by reason: recorded with the
    # dead letters but counted among the accepted
    warned: Counter[str] = field(default_factory=Counter)
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
        dedup: Dedup | None = None,
        batch_size: int = 5000,
        keep_origins: bool = True,
    ) -> None:
        """``keep_origins``: remember which messages made each buffered upsert, so
        that the messages of an upsert the store refuses are dead-lettered. Off
        where the pipeline's dedup hands nothing back to write (a Kafka worker:
        its sink side refuses graph records, not source messages)."""
        self.codec = codec
        self.sink = sink
        self.dead_letters = dead_letters
        self.validator = validator or Validator(registry)
        self.topology = topology if topology is not None else Topology()
        self.mapper = GraphMapper(registry)
        self.dedup: Dedup = dedup if dedup is not None else DedupBuffer(window_us=5_000_000)
        # an in-memory dedup notes the origins itself (``DedupBuffer.add``'s origins)
        self._buffer = self.dedup if type(self.dedup) is DedupBuffer else None
        self.batch_size = batch_size
        self.stats = PipelineStats()
        self.watermark = 0  # the dedup clock: the newest event time seen in this pass
        self._earlier_passes_newest = 0  # the newest event time of the passes before
        self._pending: list[Upsert] = []
        self.keep_origins = keep_origins
        # the messages that made each buffered upsert, numbered by their turn in the run
        self._origins: dict[tuple[str, ...], list[Origin]] = {}  # by key, in dedup
        self._pending_origins: dict[int, list[Origin]] = {}  # by id of a pending upsert
        self._refused: set[int] = set()  # turns of messages dead-lettered after acceptance
        # readings straight to their upsert (``stages.readings``); off: every message takes
        # the general path (the same results, slower)
        self.fast_readings = True
        self._reading_path: Callable[[Message], NodeUpsert | None] | None = None
        self._reading_stages: tuple[object, ...] | None = None

    @classmethod
    def for_fleet(
        cls,
        sink: GraphSink,
        dead_letters: DeadLetters,
        *,
        ingest: IngestSettings | None = None,
        clock: Callable[[], int] | None = None,
        registry: Registry = FLEET,
        codec: EventCodec | None = None,
        validator: Validator | None = None,
        topology: Topology | None = None,
        dedup: Dedup | None = None,
        keep_origins: bool = True,
    ) -> Pipeline:
        """The pipeline of the fleet's events into ``sink``: the fleet's registry and
        event codec; the dedup window and write batches of ``ingest`` (its defaults
        when None); events validated against ``clock`` (the wall clock when None)
        unless a ``validator`` is given; an empty topology unless one is given."""
        ingest = ingest or IngestSettings()
        if validator is None:
            validator = Validator(registry) if clock is None else Validator(registry, clock=clock)
        if dedup is None:
            dedup = DedupBuffer(window_us=int(ingest.dedup_window_s * SECOND_US),
                                mode=ingest.dedup_mode)
        return cls(registry, codec or load_event_codec(), sink, dead_letters,
                   validator=validator, topology=topology, dedup=dedup,
                   batch_size=ingest.batch_size, keep_origins=keep_origins)

    def process(self, message: Message) -> None:
        """Run one message through the stages (a Kafka worker's path)."""
        self.process_many((message,))

    def _add_noting_origins(self, upserts: Sequence[Upsert], origin: Origin) -> list[Upsert]:
        """Note ``origin`` as a maker of each upsert's key, then add them to dedup."""
        origins = self._origins
        for upsert in upserts:
            made = origins.get(upsert.key)
            if made is None:
                origins[upsert.key] = [origin]
            else:
                made.append(origin)
        return self.dedup.add(upserts, self.watermark)

    def _readings(self) -> Callable[[Message], NodeUpsert | None] | None:
        """The fast path of readings for the pipeline's current stages (None: off)."""
        if not self.fast_readings:
            return None
        stages = (self.codec, self.validator, self.mapper)
        made_for = self._reading_stages
        if made_for is None or any(a is not b for a, b in zip(stages, made_for, strict=True)):
            self._reading_path = reading_path(*stages)
            self._reading_stages = stages
        return self._reading_path

    def process_many(self, messages: Iterable[Message],
                     on_message: Callable[[], object] | None = None) -> None:
        """:meth:`process` of each message (then ``on_message()``), in one loop with the
        stages' lookups made once (the embedded runner's path).

        A reading the fast path answers for (``stages.readings``: two events in three)
        skips decode to to-graph; any other message takes them all."""
        stats = self.stats
        codec, check = self.codec, self.validator.check
        topology, to_graph = self.topology, self.mapper.to_graph
        filtered, warned, put = stats.filtered, stats.warned, self.dead_letters.put
        keep, buffer, origins = self.keep_origins, self._buffer, self._origins
        inventory = Topic.INVENTORY
        reading = self._readings()
        telemetry = Topic.TELEMETRY.value
        for message in messages:
            stats.received += 1
            upsert = reading(message) if reading is not None and (
                message.topic == telemetry) else None
            if upsert is not None:
                upserts: Sequence[Upsert] = (upsert,)
                event_time = upsert.ts
                warnings: Sequence[RejectedEvent] = ()
            else:
                try:
                    event = decode(codec, message)
                    warnings = check(event)
                    reason = noise_reason(event)
                    if reason is not None:
                        filtered[reason] += 1
                        if on_message is not None:
                            on_message()
                        continue
                    event_time = event.time
                    if event.topic is inventory:
                        topology.apply(event.fields)
                    if read_by_to_graph(event):
                        enrich(event, topology, event_time)
                    upserts = to_graph(event, event_time)
                except RejectedEvent as error:
                    self._dead_letter(message, error)
                    if on_message is not None:
                        on_message()
                    continue
                except Exception as exc:  # a stage's bug must not stop the run at this message
                    self._dead_letter(message, processing_error(exc))
                    if on_message is not None:
                        on_message()
                    continue
            stats.accepted += 1
            for warning in warnings:
                warned[warning.reason] += 1
                put(message, warning)
            stats.upserts += len(upserts)
            if event_time > self.watermark:
                self.watermark = event_time
            if keep and buffer is not None:
                due = buffer.add(upserts, self.watermark, origins, (stats.received, message))
            elif keep:
                due = self._add_noting_origins(upserts, (stats.received, message))
            else:
                due = self.dedup.add(upserts, self.watermark)
            if due:
                self._take(due)
                if len(self._pending) >= self.batch_size:
                    self._write()
            if on_message is not None:
                on_message()

    def flush(self) -> None:
        """Write everything buffered, dedup's window included."""
        self._take(self.dedup.drain())
        self._write()

    def end_pass(self) -> None:
        """Write everything buffered and start the dedup clock again, for a pass over
        other messages of the same log (the embedded runner's side inputs, then the rest).

        A pass's events are windowed by their own times: the newest time of the pass
        before (a late inventory change) must not hold the next pass's windows open
        until its stream catches up with it, which would keep every key it updates in
        dedup meanwhile."""
        self.flush()
        self._earlier_passes_newest = self.newest_event_time
        self.watermark = 0

    @property
    def newest_event_time(self) -> int:
        """The newest event time of every pass so far (0: none)."""
        return max(self.watermark, self._earlier_passes_newest)

    def refuse(self, message: Message, error: RejectedEvent) -> None:
        """Count and dead-letter a message its source could make no event of (a bad
        line of a JSON-lines log), so every message read is accounted for."""
        self.stats.received += 1
        self._dead_letter(message, error)

    def _dead_letter(self, message: Message, error: RejectedEvent) -> None:
        self.stats.rejected[error.reason] += 1
        self.dead_letters.put(message, error)

    def _take(self, due: list[Upsert]) -> None:
        """Queue upserts for the next write, with the messages that made them."""
        self._pending.extend(due)
        if self.keep_origins:
            pending, pop = self._pending_origins, self._origins.pop
            for upsert in due:
                pending[id(upsert)] = pop(upsert.key, NO_ORIGINS)

    def _write(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        origins, self._pending_origins = self._pending_origins, {}
        refused = self._store(batch)
        self.stats.written += len(batch) - len(refused)
        for upsert, error in refused:
            self._refuse(upsert, origins.get(id(upsert), []), error)

    def _store(self, batch: Sequence[Upsert]) -> list[tuple[Upsert, Exception]]:
        """Write ``batch``; when the store refuses it, write each half the same way,
        down to the single upserts it refuses, which are returned. An outage
        (StorageUnavailable, the store out of reach) raises."""
        try:
            self.sink.write(batch)
        except StorageUnavailable:
            raise
        except Exception as exc:
            if len(batch) == 1:
                return [(batch[0], exc)]
            half = len(batch) // 2
            return self._store(batch[:half]) + self._store(batch[half:])
        return []

    def _refuse(self, upsert: Upsert, origins: list[Origin], error: Exception) -> None:
        """Dead-letter the messages that made an upsert the store refused (once each:
        a message's other upserts may be refused too, or written)."""
        what = " ".join(upsert.key)
        log.warning("the store refused the update of %s: %s", what, error)
        rejection = RejectedEvent(
            STORE_REFUSED, f"the store refused the update of {what} made from "
            f"{len(origins)} message(s): {error}")
        for turn, message in origins:
            if turn in self._refused:
                continue
            self._refused.add(turn)
            self.stats.accepted -= 1
            self._dead_letter(message, rejection)
