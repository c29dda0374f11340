"""Give every partition a committed offset before a group's first worker starts.

faust-streaming 0.15 loses records on a partition its consumer group never
committed: records fetched while a rebalance's recovery runs are dropped, and
"seek stream partitions to committed offsets" then has nothing to seek to, so
the fetch position stays past them (seen here with two workers starting while
events arrive: whole partitions skipped; faust-streaming issues #216, #629
report the same family). Committing each partition's beginning offset first
(what ``auto_offset_reset=earliest`` would read anyway) gives that seek a
target. Kafka takes such a commit from outside the group only while the group
has no members; when it already has some, the worker that started first made
the commits, and this is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

#: How long to wait for the group coordinator of a fresh broker: the first group
#: lookup on a new cluster makes Kafka create ``__consumer_offsets`` (50 partitions),
#: and until their leaders are elected every lookup answers "not available".
COORDINATOR_WAIT_S = 90.0


async def commit_start_offsets(bootstrap: str, group: str, topics: Iterable[str],
                               partitions: int) -> int:
    """Commit the beginning offset of each partition of ``topics`` that ``group`` has no
    committed offset for; return how many were committed."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    tps = [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await _committed_offsets(admin, group)
    finally:
        await admin.close()
    missing = [tp for tp in tps if tp not in committed]
    if not missing:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(missing)
        start = await consumer.beginning_offsets(missing)
        try:
            await consumer.commit({tp: start[tp] for tp in missing})
        except KafkaError as exc:  # the group has members: they committed before joining
            log.info("group %s is active, start offsets left to it (%r)", group, exc)
            return 0
    finally:
        await consumer.stop()
    log.info("committed start offsets of %d partitions for group %s", len(missing), group)
    return len(missing)


async def _committed_offsets(admin: Any, group: str,
                             wait_s: float = COORDINATOR_WAIT_S) -> dict[Any, Any]:
    """The group's committed offsets, retrying while its coordinator is not ready yet."""
    from aiokafka.errors import KafkaError

    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        try:
            return dict(await admin.list_consumer_group_offsets(group))
        except KafkaError as exc:
            if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                raise
            log.info("coordinator of group %s not ready (%r), retrying in %.1f s",
                     group, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
