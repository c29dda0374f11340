"""The local stack answers: a Kafka round trip and a Cassandra query.

Start the servers first (`fleetgraph stack up`, or `docker compose -f
infra/docker-compose.yml up -d`). Without them these tests skip, unless
FLEETGRAPH_REQUIRE_STACK=1, when they fail.
Ports: FLEETGRAPH_KAFKA_PORT (9092) and FLEETGRAPH_CASSANDRA_PORT (9042).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from typing import NoReturn

import pytest

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
KAFKA_PORT = int(os.environ.get("FLEETGRAPH_KAFKA_PORT") or 9092)
CASSANDRA_PORT = int(os.environ.get("FLEETGRAPH_CASSANDRA_PORT") or 9042)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("FLEETGRAPH_REQUIRE_STACK") == "1":
        pytest.fail(f"{reason} (FLEETGRAPH_REQUIRE_STACK=1)")
    pytest.skip(f"{reason}; run `fleetgraph stack up`")


def _require_port(name: str, port: int) -> None:
    try:
        with socket.create_connection((HOST, port), timeout=2.0):
            return
    except OSError as exc:
        _unavailable(f"{name} is not reachable on {HOST}:{port}: {exc}")


async def _kafka_round_trip(bootstrap: str, topic: str, payload: bytes) -> bytes:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=b"stack-test")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        message = await consumer.getone()
        await consumer.commit()
        assert message.key == b"stack-test"
        assert message.value is not None
        return bytes(message.value)
    finally:
        await consumer.stop()


def test_kafka_produce_consume_round_trip() -> None:
    _require_port("Kafka", KAFKA_PORT)
    topic = f"fleetgraph-stack-test-{uuid.uuid4().hex[:12]}"
    payload = f"hello {topic}".encode()
    received = asyncio.run(
        asyncio.wait_for(_kafka_round_trip(f"{HOST}:{KAFKA_PORT}", topic, payload), 60)
    )
    assert received == payload


def test_cassandra_answers_release_version() -> None:
    _require_port("Cassandra", CASSANDRA_PORT)
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([HOST]), request_timeout=30
    )
    cluster = Cluster(
        [HOST],
        port=CASSANDRA_PORT,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
    finally:
        cluster.shutdown()
    assert row is not None
    assert str(row.release_version).startswith("5.0"), row.release_version
