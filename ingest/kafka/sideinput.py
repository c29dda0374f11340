"""The enrichment side input on Kafka: every worker reads all of the inventory.

Telemetry and job events are enriched from the topology (which racks a CDU
cooled at the event's time, which site a server is in), and a worker processes
only some partitions of the inventory topic. So each worker also follows the
whole inventory topic itself, every partition from the beginning, outside the
consumer group, and applies every valid inventory event to its topology. The
processing agents wait until it has caught up with the end offsets seen at
start, as the embedded runner reads side inputs first; later inventory is
applied as it arrives. Topology.apply merges by event time, so applying an
event twice (here and in the inventory agent's own pipeline) changes nothing.

Chosen over a Faust GlobalTable: the table would have to hold every
inventory event (the topology is made of validity intervals, not of the
latest state per component), and the topic itself already is that log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.stages.decode import decode
from fleetgraph.ingest.stages.filter import noise_reason
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas.codec import EventCodec
from fleetgraph.schemas.topics import Topic

log = logging.getLogger(__name__)


class InventorySideInput:
    """Applies inventory messages to a topology, with the pipeline's own checks."""

    def __init__(self, codec: EventCodec, validator: Validator, topology: Topology) -> None:
        self.codec = codec
        self.validator = validator
        self.topology = topology
        self.applied = 0
        self.refused = 0

    def apply(self, payload: bytes | None, source: str = "") -> bool:
        """Apply one message if it is a valid inventory event; False otherwise."""
        try:
            event = decode(self.codec, Message(Topic.INVENTORY.value, payload or b"", source))
            self.validator.check(event)
        except RejectedEvent:
            self.refused += 1  # the inventory agent dead-letters it
            return False
        if noise_reason(event) is not None:
            return False
        self.topology.apply(event.fields)
        self.applied += 1
        return True


class InventoryFollower:
    """Reads every partition of the inventory topic from the beginning, forever."""

    def __init__(self, bootstrap: str, topic: str, partitions: int,
                 side_input: InventorySideInput) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.side_input = side_input
        self.ready = asyncio.Event()  # set once caught up with the end offsets seen at start

    async def run(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            await self._follow(consumer, end)
        finally:
            await consumer.stop()

    async def _follow(self, consumer: Any, end: dict[Any, int]) -> None:
        behind = {tp for tp, offset in end.items() if offset > 0}
        if not behind:
            self._caught_up()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                for m in messages:
                    self.side_input.apply(m.value, f"{m.topic}/{m.partition}/{m.offset}")
            if behind:
                for tp in list(behind):
                    if await consumer.position(tp) >= end[tp]:
                        behind.discard(tp)
                if not behind:
                    self._caught_up()

    def _caught_up(self) -> None:
        log.info("inventory side input caught up: %d events applied, %d refused",
                 self.side_input.applied, self.side_input.refused)
        self.ready.set()
