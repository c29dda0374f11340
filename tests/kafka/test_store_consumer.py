"""The sink's loop (ingest.kafka.store_consumer) over a fake consumer: offsets are
committed only after the store and the dead letters have the batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import CommitFailedError
from aiokafka.structs import TopicPartition

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Provenance
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.store_consumer import StoreConsumer, batch_of, lag
from fleetgraph.ingest.kafka.store_writer import (
    GraphStoreWriter,
    KafkaRecord,
    StoreRetry,
    StoreUnavailable,
)
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.storage.base import StorageError, StorageUnavailable
from fleetgraph.storage.embedded import SQLiteGraphStore

CODEC = GraphRecordCodec(FLEET, TopicNames("fg."))
TOPIC = CODEC.encode(NodeUpsert("cdu", "cdu:x", {}, 1, Provenance("e", "s", 1, "t"))).topic


@dataclass
class Record:
    offset: int
    value: bytes


def _value(node_id: str, status: str = "ok") -> bytes:
    upsert = NodeUpsert("cdu", node_id, {"status": status}, 10, Provenance("e", "s", 10, "t"))
    return CODEC.encode(upsert).value


@dataclass
class FakeConsumer:
    batches: list[dict[TopicPartition, list[Record]]]
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    refuse_commit: bool = False
    events: list[str] = field(default_factory=list)
    ends: dict[TopicPartition, int] = field(default_factory=dict)
    positions: dict[TopicPartition, int] = field(default_factory=dict)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, list[Record]]:
        return self.batches.pop(0) if self.batches else {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.events.append("commit")
        if self.refuse_commit:
            raise CommitFailedError("rebalanced")
        self.commits.append(offsets)

    def assignment(self) -> set[TopicPartition]:
        return set(self.ends)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


class DownStore(SQLiteGraphStore):
    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        raise StorageUnavailable("store unreachable")


def _loop(store: SQLiteGraphStore, dead: DeadLetterList, consumer: FakeConsumer,
          retry: StoreRetry | None = None) -> StoreConsumer:
    writer = GraphStoreWriter(CODEC, lambda: store, dead, retry=retry or StoreRetry(),
                              sleep=lambda s: None)

    async def flush() -> None:
        consumer.events.append("flush")

    return StoreConsumer(writer, flush_dead_letters=flush)


def test_a_batch_is_stored_then_committed_past_its_last_record() -> None:
    p0, p1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    consumer = FakeConsumer([{p0: [Record(4, _value("cdu:a")), Record(5, _value("cdu:b"))],
                              p1: [Record(9, _value("cdu:c", "fault"))]}])
    store, dead = SQLiteGraphStore(FLEET), DeadLetterList()
    loop = _loop(store, dead, consumer)
    assert asyncio.run(loop.step(consumer)) == 3
    assert consumer.commits == [{p0: 6, p1: 10}]
    assert consumer.events == ["commit"]  # nothing dead-lettered: no flush needed
    assert {n: r.props["status"] for n, r in store.get_nodes(["cdu:a", "cdu:b", "cdu:c"]).items()
            } == {"cdu:a": "ok", "cdu:b": "ok", "cdu:c": "fault"}
    assert asyncio.run(loop.step(consumer)) == 0  # nothing fetched: nothing committed
    assert consumer.commits == [{p0: 6, p1: 10}]


def test_an_unreadable_record_is_dead_lettered_and_flushed_before_the_commit() -> None:
    p0 = TopicPartition(TOPIC, 0)
    consumer = FakeConsumer([{p0: [Record(0, b"\x00garbage"), Record(1, _value("cdu:a"))]}])
    store, dead = SQLiteGraphStore(FLEET), DeadLetterList()
    asyncio.run(_loop(store, dead, consumer).step(consumer))
    assert [r["source"] for r in dead.records] == [f"{TOPIC}/0/0"]
    assert consumer.events == ["flush", "commit"]
    assert consumer.commits == [{p0: 2}]
    assert "cdu:a" in store.get_nodes(["cdu:a"])


def test_a_store_down_past_the_deadline_commits_nothing() -> None:
    p0 = TopicPartition(TOPIC, 0)
    consumer = FakeConsumer([{p0: [Record(0, _value("cdu:a"))]}])
    loop = _loop(DownStore(FLEET), DeadLetterList(), consumer,
                 StoreRetry(first_backoff_s=0.0, deadline_s=0.0))
    with pytest.raises(StoreUnavailable):
        asyncio.run(loop.step(consumer))
    assert consumer.commits == []


def test_a_refused_commit_after_a_rebalance_is_counted_not_raised() -> None:
    p0 = TopicPartition(TOPIC, 0)
    consumer = FakeConsumer([{p0: [Record(0, _value("cdu:a"))]}], refuse_commit=True)
    store = SQLiteGraphStore(FLEET)
    loop = _loop(store, DeadLetterList(), consumer)
    assert asyncio.run(loop.step(consumer)) == 1
    assert loop.refused_commits == 1
    assert "cdu:a" in store.get_nodes(["cdu:a"])  # stored anyway; the new owner writes it again


def test_batch_of_skips_empty_partitions() -> None:
    p0, p1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    records, offsets = batch_of({p0: [], p1: [Record(3, b"x")]})
    assert [(r.partition, r.offset) for r in records] == [(1, 3)]
    assert offsets == {p1: 4}


def test_lag_counts_records_past_the_position_and_is_unknown_without_an_end() -> None:
    p0, p1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    consumer = FakeConsumer([], ends={p0: 10, p1: 4}, positions={p0: 7, p1: 4})
    assert asyncio.run(lag(consumer)) == 3
    consumer.ends[p1] = None  # type: ignore[assignment]
    assert asyncio.run(lag(consumer)) is None
    assert asyncio.run(lag(FakeConsumer([]))) is None


class CountingStore(SQLiteGraphStore):
    """Records how many node upserts each write held."""

    def __init__(self) -> None:
        super().__init__(FLEET)
        self.writes: list[int] = []

    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        self.writes.append(len(nodes))
        super().upsert_nodes(nodes)


def test_a_batch_is_written_at_most_write_upserts_at_a_time_and_committed_once() -> None:
    p0, p1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    values = [(i, _value(f"cdu:{i}", "fault" if i % 3 else "ok")) for i in range(7)]
    consumer = FakeConsumer([{p0: [Record(i, v) for i, v in values[:4]],
                              p1: [Record(i, v) for i, v in values[4:]]}])
    store, whole = CountingStore(), SQLiteGraphStore(FLEET)
    writer = GraphStoreWriter(CODEC, lambda: store, DeadLetterList(), sleep=lambda s: None)

    async def flush() -> None:
        consumer.events.append("flush")

    loop = StoreConsumer(writer, flush_dead_letters=flush, write_upserts=3)
    assert asyncio.run(loop.step(consumer)) == 7
    assert store.writes == [3, 3, 1]
    assert consumer.commits == [{p0: 4, p1: 7}]  # once, after every part is stored
    ids = [f"cdu:{i}" for i in range(7)]
    GraphStoreWriter(CODEC, lambda: whole, DeadLetterList()).write(
        [KafkaRecord(TOPIC, 0, i, v) for i, v in values])  # the same records in one write
    assert ({n: r.props for n, r in store.get_nodes(ids).items()}
            == {n: r.props for n, r in whole.get_nodes(ids).items()})
    with pytest.raises(ValueError):
        StoreConsumer(writer, flush_dead_letters=flush, write_upserts=0)


def test_a_refused_part_is_dead_lettered_and_the_rest_stored_before_the_commit() -> None:
    class RefusesB(SQLiteGraphStore):
        def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
            if any(n.id == "cdu:b" for n in nodes):
                raise StorageError("refused")
            super().upsert_nodes(nodes)

    p0 = TopicPartition(TOPIC, 0)
    consumer = FakeConsumer([{p0: [Record(i, _value(n)) for i, n in
                                   enumerate(["cdu:a", "cdu:b", "cdu:c"])]}])
    store, dead = RefusesB(FLEET), DeadLetterList()
    writer = GraphStoreWriter(CODEC, lambda: store, dead, sleep=lambda s: None)

    async def flush() -> None:
        consumer.events.append("flush")

    asyncio.run(StoreConsumer(writer, flush_dead_letters=flush, write_upserts=1).step(consumer))
    assert [r["source"] for r in dead.records] == [f"{TOPIC}/0/1"]
    assert sorted(store.get_nodes(["cdu:a", "cdu:b", "cdu:c"])) == ["cdu:a", "cdu:c"]
    assert consumer.events == ["flush", "commit"]
    assert consumer.commits == [{p0: 3}]
