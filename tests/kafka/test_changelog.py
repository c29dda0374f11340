"""The dedup table's changelog writes reach the Kafka client in batches, each
partition's in the order made, a slice serialized between two turns of the loop;
a group's future is acknowledged (or failed) with every batch of it, and the
checkpoint waits for each group; with Faust's real table (``on_key_set``,
``on_key_del``) on top."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.ingest.kafka.app import create_app
from fleetgraph.ingest.kafka.changelog import ChangelogBatchError, ChangelogWriter
from fleetgraph.ingest.kafka.checkpoint import checkpoint_of
from fleetgraph.ingest.kafka.dedup_table import add_dedup_table
from fleetgraph.settings import Settings

TOPIC = "fg-dedup-changelog"


class Batch:
    """aiokafka's ``BatchBuilder.append``: None once ``capacity`` bytes are taken."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[Any, Any]] = []

    def append(self, *, timestamp: Any, key: Any, value: Any, headers: Any) -> Any:
        size = len(key or b"") + len(value or b"")
        if size > self.capacity:
            return None
        self.capacity -= size
        self.records.append((key, value))
        return object()


class Client:
    """aiokafka's ``create_batch``/``send_batch``: records each batch sent and returns
    a future the test acknowledges (or fails) later."""

    def __init__(self, capacity: int = 1 << 20, refuse: int | None = None) -> None:
        self.capacity = capacity
        self.refuse = refuse  # the n-th send_batch (0-based) raises
        self.sent: list[tuple[str, int, list[tuple[Any, Any]]]] = []
        self.acks: list[asyncio.Future[Any]] = []

    def create_batch(self) -> Batch:
        return Batch(self.capacity)

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> Any:
        if self.refuse == len(self.sent):
            self.sent.append((topic, partition, []))
            raise RuntimeError("refused")
        self.sent.append((topic, partition, batch.records))
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack

    def acknowledge(self, upto: int | None = None) -> None:
        for n, ack in enumerate(self.acks[:upto]):
            if not ack.done():
                ack.set_result(n)

    def by_partition(self) -> dict[int, list[tuple[Any, Any]]]:
        got: dict[int, list[tuple[Any, Any]]] = {}
        for _, partition, records in self.sent:
            got.setdefault(partition, []).extend(records)
        return got


class Topic:
    """The changelog topic's serialization (JSON keys and values, as the dedup table's);
    counts what it serialized."""

    def __init__(self) -> None:
        self.serialized = 0

    def get_topic_name(self) -> str:
        return TOPIC

    def prepare_key(self, key: Any, serializer: Any) -> tuple[bytes, Any]:
        self.serialized += 1
        return json.dumps(key).encode(), None

    def prepare_value(self, value: Any, serializer: Any, headers: Any = None
                      ) -> tuple[bytes | None, Any]:
        return (None if value is None else json.dumps(value).encode()), headers


def expected(writes: list[tuple[int, str, Any]]) -> dict[int, list[tuple[Any, Any]]]:
    """Each partition's writes in the order made, serialized: what Kafka must get."""
    out: dict[int, list[tuple[Any, Any]]] = {}
    for partition, key, value in writes:
        out.setdefault(partition, []).append(
            (json.dumps(key).encode(), None if value is None else json.dumps(value).encode()))
    return out


def random_writes(seed: int, n: int) -> list[tuple[int, str, Any]]:
    rng = random.Random(seed)
    return [(rng.randrange(4), f"k{rng.randrange(50)}", rng.choice([None, {"n": i}]))
            for i in range(n)]


def test_each_partitions_writes_reach_the_client_in_order_a_slice_at_a_time() -> None:
    writes = random_writes(3, 1000)
    later = random_writes(4, 300)  # made while the first groups are being sent

    async def run() -> tuple[Client, Topic, list[int], list[Any]]:
        client, topic = Client(capacity=2000), Topic()  # ~60 writes a batch
        groups: list[Any] = []
        writer = ChangelogWriter(lambda: client, topic, slice_size=100, on_group=groups.append)
        seen: list[int] = []  # how many writes were serialized when another task ran

        async def other() -> None:
            while topic.serialized < len(writes) + len(later):
                seen.append(topic.serialized)
                await asyncio.sleep(0)

        sent = [writer.put(p, k, v) for p, k, v in writes]
        watcher = asyncio.ensure_future(other())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        sent += [writer.put(p, k, v) for p, k, v in later]
        await asyncio.gather(watcher, asyncio.sleep(0.05))
        assert [s.message.partition for s in sent] == [p for p, _, _ in writes + later]
        assert not any(s.done() for s in sent)  # not before Kafka acknowledged them
        client.acknowledge()
        await asyncio.gather(*sent)
        return client, topic, seen, groups

    client, topic, seen, groups = asyncio.run(run())
    assert client.by_partition() == expected(writes + later)
    assert topic.serialized == len(writes) + len(later)  # each write serialized once
    assert all(t == TOPIC for t, _, _ in client.sent)
    assert len(client.sent) > 8  # full batches were followed by new ones
    # the loop turned while the writes were serialized, never more than a slice apart
    assert any(0 < n < len(writes) for n in seen)
    assert all(b - a <= 100 for a, b in zip([0, *seen], seen, strict=False))
    # a group a partition at a time: the first four, then the ones opened meanwhile
    assert 4 < len(groups) <= 8
    assert len({id(g) for g in groups}) == len(groups)


def test_a_group_is_acknowledged_only_with_every_batch_of_it() -> None:
    async def run() -> tuple[bool, bool, int]:
        client = Client(capacity=100)  # a few writes a batch
        writer = ChangelogWriter(lambda: client, Topic())
        sent = [writer.put(1, f"key{i}", {"v": i}) for i in range(40)]
        await asyncio.sleep(0.01)
        client.acknowledge(upto=len(client.acks) - 1)
        await asyncio.sleep(0)
        before_last = sent[0].done()
        client.acknowledge()
        await asyncio.sleep(0)
        return before_last, all(s.done() and s.exception() is None for s in sent), len(client.sent)

    before_last, all_done, batches = asyncio.run(run())
    assert batches > 1
    assert not before_last
    assert all_done


def test_a_failed_batch_fails_its_group_only() -> None:
    async def run() -> list[BaseException | None]:
        client = Client()
        writer = ChangelogWriter(lambda: client, Topic())
        sent = [writer.put(p, f"k{p}", {"v": p}) for p in (0, 1, 2)]
        await asyncio.sleep(0.01)
        client.acks[1].set_exception(RuntimeError("not acknowledged"))  # partition 1
        client.acknowledge()
        await asyncio.wait(sent)
        return [s.exception() for s in sent]

    a, b, c = asyncio.run(run())
    assert a is None and c is None
    assert isinstance(b, RuntimeError) and "not acknowledged" in str(b)


def test_a_batch_the_client_refuses_fails_its_group_and_the_next_go_on() -> None:
    async def run() -> list[BaseException | None]:
        client = Client(refuse=0)
        writer = ChangelogWriter(lambda: client, Topic())
        sent = [writer.put(p, "k", {"v": p}) for p in (0, 1)]
        await asyncio.sleep(0.01)
        client.acknowledge()
        await asyncio.wait(sent)
        return [s.exception() for s in sent]

    refused, taken = asyncio.run(run())
    assert isinstance(refused, RuntimeError) and "refused" in str(refused)
    assert taken is None


def test_a_write_too_large_for_a_batch_fails_its_group() -> None:
    async def run() -> BaseException | None:
        client = Client(capacity=50)
        writer = ChangelogWriter(lambda: client, Topic())
        sent = writer.put(0, "k", {"v": "x" * 100})
        await asyncio.wait([sent])
        return sent.exception()

    assert isinstance(asyncio.run(run()), ChangelogBatchError)


def test_writes_left_queued_when_stopped_are_cancelled() -> None:
    async def run() -> tuple[int, list[bool]]:
        client = Client()
        writer = ChangelogWriter(lambda: client, Topic(), slice_size=10)
        sent = [writer.put(i % 2, f"k{i}", {"v": i}) for i in range(50)]
        await asyncio.sleep(0)  # the first slice of the first group
        writer.stop()
        await asyncio.sleep(0)
        return len(client.sent), [s.cancelled() for s in sent]

    handed, cancelled = asyncio.run(run())
    assert handed == 0
    assert all(cancelled)


def test_the_dedup_tables_sets_and_deletes_go_through_it_tracked(tmp_path: Path) -> None:
    """Faust's own ``on_key_set``/``on_key_del`` on the dedup table: each write goes to
    the key's changelog partition, in order, and the checkpoint waits for each group."""
    settings = Settings().updated(data_dir=tmp_path,
                                  kafka={"topic_prefix": "fg.", "consumer_group": "fg-test"})
    app = create_app(settings, partitions=4)
    table, _ = add_dedup_table(app, 1_000_000, 4)
    client = Client()
    checkpoint = checkpoint_of(app)

    async def run() -> tuple[list[Any], bool]:
        table.writer = ChangelogWriter(lambda: client, table.changelog_topic,
                                       on_group=table.track_group)
        table["2|node|Host|h1"] = {"count": 1}
        table["3|node|Host|h2"] = {"count": 1}
        del table["2|node|Host|h1"]
        table["2|node|Host|h1"] = {"count": 2}
        tracked = list(checkpoint.pending)
        await asyncio.sleep(0.01)
        settling = asyncio.ensure_future(checkpoint.settle())
        await asyncio.sleep(0.01)
        waited = not settling.done()  # the commit waits for Kafka's acknowledgement
        client.acknowledge()
        await settling
        return tracked, waited

    tracked, waited = asyncio.run(run())
    assert waited
    assert len(tracked) == 2 and all(t.done() and t.exception() is None for t in tracked)
    assert sorted(t.message.partition for t in tracked) == [2, 3]
    got = {p: [(json.loads(k), v and json.loads(v)) for k, v in records]
           for p, records in client.by_partition().items()}
    assert got == {2: [("2|node|Host|h1", {"count": 1}), ("2|node|Host|h1", None),
                       ("2|node|Host|h1", {"count": 2})],
                   3: [("3|node|Host|h2", {"count": 1})]}
    assert {t for t, _, _ in client.sent} == {table.changelog_topic.get_topic_name()}
    assert dict(table) == {"3|node|Host|h2": {"count": 1}, "2|node|Host|h1": {"count": 2}}


def test_aiokafkas_own_batches_carry_the_writes_and_tombstones() -> None:
    """The writer on aiokafka's real ``create_batch`` (not started: batches are built in
    memory): each batch, read back with aiokafka's record reader, holds its partition's
    writes in order, tombstones as records without a value."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.record.default_records import DefaultRecordBatch

    writes = random_writes(5, 2000)

    async def run() -> dict[int, list[tuple[Any, Any]]]:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", max_batch_size=4096)
        read: dict[int, list[tuple[Any, Any]]] = {}

        class Real:
            def create_batch(self) -> Any:
                return producer.create_batch()

            async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
                records = DefaultRecordBatch(bytes(batch._build()))
                read.setdefault(partition, []).extend((r.key, r.value) for r in records)
                done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                done.set_result(None)
                return done

        try:
            writer = ChangelogWriter(lambda: Real(), Topic())
            await asyncio.gather(*[writer.put(p, k, v) for p, k, v in writes])
            assert writer.batches > 4  # 4 KiB batches: full ones were followed by others
        finally:
            await producer.stop()
        return read

    assert asyncio.run(run()) == expected(writes)


def test_a_slice_of_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        ChangelogWriter(lambda: Client(), Topic(), slice_size=0)
