"""The dead-letter topic, for ``fleetgraph deadletters --kafka``.

Workers send each refused message's record (``fleetgraph.ingest.deadletter``) to
``<prefix>deadletter``. Here it is read whole (every partition, from the
beginning to the end offsets seen at start), and replayed: the chosen
letters' payloads are sent again to the topic they came from (a source topic,
keyed as the simulator keys it, or a graph topic the store consumer refused),
so the running workers take them through the pipeline into the store. A
Kafka topic cannot be edited, so each replayed letter is marked on
``<prefix>deadletter.replayed`` (key ``partition:offset``); a second replay
skips the marked ones. Letters refused again come back as new letters.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.ingest.deadletter_tools import Letter, payload_of
from fleetgraph.ingest.errors import IngestError
from fleetgraph.ingest.kafka.producer import event_key
from fleetgraph.ingest.kafka.topics import KEEP_FOREVER, TopicNames, create_topics
from fleetgraph.schemas.codec import EventCodec
from fleetgraph.schemas.topics import Topic

POLL_MS = 500


def replayed_topic(names: TopicNames) -> str:
    return f"{names.deadletter}.replayed"


@dataclass(frozen=True)
class TopicLetter:
    partition: int
    offset: int
    letter: Letter

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"


async def read_topic(consumer: Any, topic: str) -> list[tuple[int, int, bytes | None]]:
    """(partition, offset, value) of every record of ``topic``, partition by partition;
    a topic that does not exist holds none. ``consumer``: a started aiokafka consumer
    without a group."""
    from aiokafka import TopicPartition

    if topic not in await consumer.topics():
        return []
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    end = await consumer.end_offsets(tps)
    records: list[tuple[int, int, bytes | None]] = []
    behind = {tp for tp in tps if end[tp] > 0}
    while behind:
        batches = await consumer.getmany(*behind, timeout_ms=POLL_MS)
        for tp, messages in batches.items():
            records += [(tp.partition, m.offset, m.value) for m in messages if m.offset < end[tp]]
        behind = {tp for tp in behind if await consumer.position(tp) < end[tp]}
    return sorted(records, key=lambda r: (r[0], r[1]))


async def read_letters(consumer: Any, names: TopicNames) -> list[TopicLetter]:
    letters = []
    for partition, offset, value in await read_topic(consumer, names.deadletter):
        try:
            letter = json.loads(value or b"")
        except json.JSONDecodeError as exc:
            raise IngestError(f"{names.deadletter} {partition}:{offset} is not a dead "
                              f"letter: {exc}") from exc
        letters.append(TopicLetter(partition, offset, letter))
    return letters


async def replayed_positions(consumer: Any, names: TopicNames) -> set[str]:
    """The ``partition:offset`` of every letter already replayed."""
    positions = set()
    for _, _, value in await read_topic(consumer, replayed_topic(names)):
        try:
            positions.add(str(json.loads(value or b"")["position"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # not a mark of ours
    return positions


@dataclass
class KafkaReplayReport:
    chosen: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # Kafka topic -> letters sent
    skipped: int = 0  # already replayed
    unknown: list[str] = field(default_factory=list)  # positions whose topic is not ours

    def lines(self, names: TopicNames) -> list[str]:
        sent = ", ".join(f"{t} {n:,}" for t, n in sorted(self.sent.items())) or "none"
        out = [f"replayed {sum(self.sent.values()):,} of {self.chosen:,} dead letters on "
               f"{names.deadletter} ({sent}); {self.skipped:,} were replayed before"]
        if self.unknown:
            out.append(f"not replayed, their topic is not of prefix {names.prefix!r}: "
                       + ", ".join(self.unknown))
        out.append("the workers store them; those refused again come back as new letters")
        return out


def destination(names: TopicNames, letter: Letter) -> str | None:
    """Where a letter's payload goes again: its source topic, or the graph topic it was
    read from; None for a topic of another deployment."""
    topic = str(letter["topic"])
    if topic in {t.value for t in Topic}:
        return names.source(Topic(topic))
    if topic.startswith(f"{names.prefix}graph."):
        return topic
    return None


async def replay_letters(consumer: Any, producer: Any, names: TopicNames, codec: EventCodec,
                         reason: str | None = None) -> KafkaReplayReport:
    """Send the letters not replayed yet (of ``reason``, or all) again, then mark them.

    ``consumer``: a started aiokafka consumer without a group; ``producer``: a started
    aiokafka producer."""
    done = await replayed_positions(consumer, names)
    report = KafkaReplayReport()
    pending = []
    marks = []
    for item in await read_letters(consumer, names):
        if reason is not None and item.letter["reason"] != reason:
            continue
        report.chosen += 1
        if item.position in done:
            report.skipped += 1
            continue
        target = destination(names, item.letter)
        if target is None:
            report.unknown.append(item.position)
            continue
        payload = payload_of(item.letter)
        key = event_key(codec, payload) if target in names.sources else None
        pending.append(await producer.send(target, payload, key=key))
        report.sent[target] += 1
        marks.append(item.position)
    await asyncio.gather(*pending)  # sent before they are marked: a crash replays, never loses
    now = wall_clock_us()
    pending = [await producer.send(replayed_topic(names),
                                   json.dumps({"position": p, "replayed_at_us": now}).encode(),
                                   key=p.encode()) for p in marks]
    await asyncio.gather(*pending)
    return report


# --- on a running stack ---------------------------------------------------------------
async def _consumer(bootstrap: str) -> Any:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    return consumer


async def fetch_letters(bootstrap: str, names: TopicNames) -> tuple[list[TopicLetter], set[str]]:
    """Every letter of the dead-letter topic, and the positions already replayed."""
    consumer = await _consumer(bootstrap)
    try:
        return await read_letters(consumer, names), await replayed_positions(consumer, names)
    finally:
        await consumer.stop()


async def replay_on_kafka(bootstrap: str, names: TopicNames, codec: EventCodec,
                          reason: str | None = None) -> KafkaReplayReport:
    from aiokafka import AIOKafkaProducer

    marks = replayed_topic(names)
    await create_topics(bootstrap, [marks], 1, configs={marks: KEEP_FOREVER})
    consumer = await _consumer(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        return await replay_letters(consumer, producer, names, codec, reason)
    finally:
        await producer.stop()
        await consumer.stop()
