"""The local stack for the benchmarks: is it up, and prefixes of our own on it.

Every real-stack benchmark uses random topic and keyspace prefixes and drops
them afterwards, so it can share Kafka and Cassandra with other users.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fleetgraph.core.errors import FleetgraphError
from fleetgraph.graph_model import FLEET
from fleetgraph.settings import Settings


class StackDown(FleetgraphError):
    """Kafka or Cassandra does not answer where the settings say."""


def require_stack(settings: Settings) -> dict[str, str]:
    """What answers at the settings' Kafka and Cassandra; StackDown if either is silent."""
    from fleetgraph.infra.stack import cassandra_answers, kafka_answers

    kafka_port = int(settings.kafka.bootstrap.rsplit(":", 1)[1])
    found = {"kafka": kafka_answers(kafka_port),
             "cassandra": cassandra_answers(settings.store.cassandra.port)}
    silent = [name for name, answer in found.items() if not answer]
    if silent:
        raise StackDown(
            f"{' and '.join(silent)} not answering ({settings.kafka.bootstrap}, "
            f"{settings.store.cassandra.hosts}:{settings.store.cassandra.port}): the full "
            "profile needs the local stack; run `fleetgraph stack up`, or pass --quick or "
            "--skip-stack")
    return found


def private(settings: Settings, tag: str) -> Settings:
    """The settings with random topic, consumer group and keyspace prefixes."""
    token = uuid.uuid4().hex[:8]
    prefix = f"bench-{tag}-{token}."
    return settings.updated(kafka={"topic_prefix": prefix, "consumer_group": f"{prefix}ingest"},
                            store={"cassandra": {"keyspace_prefix": f"b{token}_"}})


@contextmanager
def keyspaces(settings: Settings, clock_us: int | None = None) -> Iterator[Any]:
    """A CassandraGraphStore on fresh keyspaces of ``settings.store.cassandra.keyspace_prefix``,
    dropped on the way out."""
    from fleetgraph.storage.cassandra import CassandraGraphStore

    kwargs: dict[str, Any] = {} if clock_us is None else {"clock": lambda: clock_us}
    store = CassandraGraphStore(FLEET, settings.store.cassandra, schema="init", **kwargs)
    try:
        yield store
    finally:
        try:
            store.drop_schema()
        finally:
            store.close()


def delete_topics(settings: Settings) -> None:
    """The source, graph, dead-letter and changelog topics of ``settings.kafka.topic_prefix``."""
    from fleetgraph.ingest.kafka.topics import TopicNames
    from fleetgraph.ingest.kafka.topics import delete_topics as delete

    names = TopicNames(settings.kafka.topic_prefix)
    asyncio.run(delete(settings.kafka.bootstrap,
                       [*names.all(FLEET), f"{settings.kafka.consumer_group}-dedup-changelog"]))
