"""Kafka topic names, and creating them.

Source topics are ``<prefix>telemetry``, ``<prefix>inventory``, ``<prefix>jobs``
and ``<prefix>artifacts``; every node type and every edge type has its own
graph topic, ``<prefix>graph.node.<type>`` and ``<prefix>graph.edge.<type>``
(as in Netflix's RDG); refused events go to ``<prefix>deadletter``.

All of them get the same number of partitions, so Faust co-partitions them:
partition N of every source topic and of the dedup table's changelog goes to
the same worker. The inventory topic keeps its history (``retention.ms=-1``,
not compacted): workers rebuild the topology from all of it at start, and a
compacted topic keyed by component would drop the links and moves the
topology's validity intervals are made of.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetgraph.core.errors import FleetgraphError
from fleetgraph.graph_model.types import Registry
from fleetgraph.schemas.topics import SOURCE_TOPICS, Topic

DEFAULT_PARTITIONS = 4
GRAPH_KINDS = ("node", "edge")
CREATED_SETTLE_S = 1.0  # new partitions' leaders show in metadata before they take writes
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}


class TopicSetupError(FleetgraphError):
    """Topics could not be created or do not fit together."""


@dataclass(frozen=True)
class TopicNames:
    """Every topic name of one deployment, from its prefix (``Settings.topic_prefix``)."""

    prefix: str

    def source(self, topic: Topic) -> str:
        return f"{self.prefix}{topic.value}"

    @property
    def sources(self) -> dict[str, Topic]:
        """Kafka topic name -> source topic."""
        return {self.source(topic): topic for topic in SOURCE_TOPICS}

    def source_of(self, kafka_topic: str) -> Topic | None:
        return self.sources.get(kafka_topic)

    def graph(self, kind: str, type_name: str) -> str:
        if kind not in GRAPH_KINDS:
            raise ValueError(f"kind must be node or edge, not {kind!r}")
        return f"{self.prefix}graph.{kind}.{type_name}"

    def graph_topics(self, registry: Registry) -> dict[str, tuple[str, str]]:
        """Kafka topic name -> (``node`` or ``edge``, type name), one per declared type."""
        topics = {self.graph("node", name): ("node", name) for name in sorted(registry.nodes)}
        topics.update(
            {self.graph("edge", name): ("edge", name) for name in sorted(registry.edges)}
        )
        return topics

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}deadletter"

    def all(self, registry: Registry) -> list[str]:
        return [*self.sources, *self.graph_topics(registry), self.deadletter]

    def configs(self, name: str) -> dict[str, str]:
        return dict(KEEP_FOREVER) if name == self.source(Topic.INVENTORY) else {}


async def create_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = DEFAULT_PARTITIONS,
    *,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    timeout_s: float = 30.0,
    replication_factor: int = 1,
    min_insync_replicas: int | None = None,
) -> dict[str, int]:
    """Create the topics that are missing, with ``replication_factor`` copies (and
    ``min.insync.replicas``: None, the brokers' default); return every topic's
    partition count."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    wanted = list(dict.fromkeys(names))
    configs = configs or {}
    if min_insync_replicas is not None and min_insync_replicas > replication_factor:
        raise TopicSetupError(
            f"min.insync.replicas {min_insync_replicas} is more than the replication factor "
            f"{replication_factor} (FLEETGRAPH_TOPIC_MIN_INSYNC_REPLICAS, "
            "FLEETGRAPH_TOPIC_REPLICATION_FACTOR): no write with acks=all could succeed")
    insync = ({} if min_insync_replicas is None
              else {"min.insync.replicas": str(min_insync_replicas)})
    from aiokafka.errors import KafkaError

    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            existing = set(await admin.list_topics())
            missing = [name for name in wanted if name not in existing]
            if missing:
                await admin.create_topics(
                    [NewTopic(name, num_partitions=partitions,
                              replication_factor=replication_factor,
                              topic_configs={**insync, **configs.get(name, {})})
                     for name in missing],
                    timeout_ms=int(timeout_s * 1000),
                )
            counts = await _partition_counts(admin, wanted, timeout_s)
            if missing:
                await asyncio.sleep(CREATED_SETTLE_S)
            return counts
        except KafkaError as exc:
            # a cluster's broker that is down (until the controller fences it) fails
            # the requests sent to it: ask again, another broker answers
            if not exc.retriable or asyncio.get_running_loop().time() > deadline:
                raise
        finally:
            await admin.close()
        await asyncio.sleep(0.5)


async def _partition_counts(admin: Any, names: list[str], timeout_s: float) -> dict[str, int]:
    """Partition counts, waiting until the controller's new topics show in the metadata."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        counts = {t["topic"]: len(t["partitions"]) for t in described if _led(t)}
        if len(counts) == len(names) or asyncio.get_running_loop().time() > deadline:
            missing = sorted(set(names) - set(counts))
            if missing:
                raise TopicSetupError(f"topics not created in {timeout_s:.0f} s: {missing}")
            return counts
        await asyncio.sleep(0.2)


def _led(described: dict[str, Any]) -> bool:
    """A described topic exists and every partition has a leader."""
    partitions = described["partitions"]
    return described["error_code"] == 0 and bool(partitions) and all(
        p["error_code"] == 0 and p["leader"] >= 0 for p in partitions
    )


async def fewest_copies(bootstrap: str, names: Iterable[str]) -> dict[str, int]:
    """For each topic of ``names`` that exists: the fewest replicas a partition of it has.
    (Only existing topics are described: asking for a missing one's metadata may have
    the brokers create it, with their default partitions.)"""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [name for name in dict.fromkeys(names) if name in existing]
        described = await admin.describe_topics(wanted) if wanted else []
    finally:
        await admin.close()
    return {t["topic"]: min(len(p["replicas"]) for p in t["partitions"])
            for t in described if t["error_code"] == 0 and t["partitions"]}


def state_copies(configured: int, copies: Mapping[str, int], sources: Iterable[str]) -> int:
    """Copies for a topic holding the state of ``sources`` (the dedup table's
    changelog): ``configured`` (the settings' replication factor) or, when the
    existing source topics have more, the fewest any of them has.

    A source offset is committed once its updates are in the changelog
    (checkpoint.py): a changelog with fewer copies than its sources loses them,
    or, while a broker is down, leaves partitions without a leader, with every
    commit waiting for them (seen on a 3-broker cluster: a worker started with
    the default, 1, made a one-copy changelog for sources with 3)."""
    known = [copies[name] for name in sources if name in copies]
    return max(configured, min(known)) if known else configured


def ensure_topics(
    bootstrap: str,
    names: TopicNames,
    registry: Registry,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    timeout_s: float = 30.0,
    replication_factor: int = 1,
    min_insync_replicas: int | None = None,
) -> int:
    """Create every topic of a deployment that is missing; return the partition count.
    On a cluster, ``replication_factor`` and ``min_insync_replicas`` are the settings'
    (``settings.kafka``: 3 and 2).

    Raises TopicSetupError when existing topics disagree on their partition
    count (Faust could not co-partition them).
    """
    all_names = names.all(registry)
    counts = asyncio.run(create_topics(
        bootstrap, all_names, partitions,
        configs={name: names.configs(name) for name in all_names}, timeout_s=timeout_s,
        replication_factor=replication_factor, min_insync_replicas=min_insync_replicas,
    ))
    distinct = set(counts.values())
    if len(distinct) != 1:
        by_count: dict[int, list[str]] = {}
        for name, count in counts.items():
            by_count.setdefault(count, []).append(name)
        raise TopicSetupError(
            "the topics must all have the same number of partitions: "
            + "; ".join(f"{n}: {', '.join(sorted(t))}" for n, t in sorted(by_count.items()))
        )
    return distinct.pop()


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Delete topics (tests clean up their own prefix with it)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
