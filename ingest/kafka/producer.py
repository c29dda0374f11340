"""Publishing source events to Kafka (the simulator's ``--to kafka``, replays).

Messages are keyed by the event's main id, read by decoding it: the
component for telemetry and inventory, the job, the artifact. Kafka's default
partitioner hashes the key, so one component's, job's or artifact's events
stay in order on one partition, and its dedup entries on one worker. A
message that does not decode gets no key (any partition); the workers
dead-letter it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.topics import DEFAULT_PARTITIONS, TopicNames, ensure_topics
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.codec import EventCodec, SchemaError
from fleetgraph.settings import Settings

MAIN_ID = {
    "fleetgraph.events.TelemetryEvent": "component_id",
    "fleetgraph.events.InventoryEvent": "component_id",
    "fleetgraph.events.JobEvent": "job_id",
    "fleetgraph.events.ArtifactEvent": "artifact_id",
}
IN_FLIGHT = 10_000  # sends awaited together


def event_key(codec: EventCodec, payload: bytes) -> bytes | None:
    """The event's main id as the message key, or None when it does not decode."""
    try:
        record_name, fields = codec.decode(payload)
    except SchemaError:
        return None
    value = fields.get(MAIN_ID.get(record_name, ""))
    return value.encode() if isinstance(value, str) and value else None


async def send_all(
    producer: Any,
    names: TopicNames,
    codec: EventCodec,
    messages: Iterable[tuple[str, bytes]],
    *,
    in_flight: int = IN_FLIGHT,
) -> int:
    """Send (source topic, payload) pairs with a started aiokafka producer; return the count."""
    pending: list[asyncio.Future[Any]] = []
    sent = 0
    for topic, payload in messages:
        kafka_topic = f"{names.prefix}{topic}"
        pending.append(await producer.send(kafka_topic, payload, key=event_key(codec, payload)))
        sent += 1
        if len(pending) >= in_flight:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    return sent


async def publish(
    settings: Settings,
    messages: Iterable[tuple[str, bytes]],
    *,
    codec: EventCodec | None = None,
) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap, acks="all", linger_ms=20,
        max_batch_size=512 * 1024, max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        return await send_all(producer, TopicNames(settings.kafka.topic_prefix),
                              codec or load_event_codec(), messages)
    finally:
        await producer.stop()


def publish_messages(
    settings: Settings,
    messages: Iterable[tuple[str, bytes]],
    *,
    partitions: int = DEFAULT_PARTITIONS,
) -> int:
    """Publish (source topic, payload) pairs, e.g. ``("telemetry", b"...")``, to
    ``<topic_prefix><topic>``; create missing topics first. Returns how many were sent.

    Blocking (runs its own event loop): call it from plain code, not from a coroutine.
    """
    ensure_topics(settings.kafka.bootstrap, TopicNames(settings.kafka.topic_prefix), FLEET,
                  partitions, replication_factor=settings.kafka.replication_factor,
                  min_insync_replicas=settings.kafka.min_insync_replicas)
    return asyncio.run(publish(settings, messages))
