"""The dedup table's changelog writes go to the producer in the order made, a slice
at a time, each acknowledged (or failed) through the future the table hands the
checkpoint; with Faust's real table (``on_key_set``, ``on_key_del``) on top."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.ingest.kafka.app import create_app
from fleetgraph.ingest.kafka.changelog import ChangelogWriter
from fleetgraph.ingest.kafka.checkpoint import checkpoint_of
from fleetgraph.ingest.kafka.dedup_table import add_dedup_table
from fleetgraph.settings import Settings


class Producer:
    """Faust's ``send(topic, key, value, partition, timestamp, headers)``: records
    each write and returns a future the test acknowledges (or fails) later."""

    def __init__(self, refuse: set[bytes] = frozenset()) -> None:  # type: ignore[assignment]
        self.sent: list[tuple[str, Any, Any, int]] = []
        self.acks: list[asyncio.Future[Any]] = []
        self.refuse = refuse

    async def send(self, topic: str, key: Any, value: Any, partition: int, timestamp: Any,
                   headers: Any) -> asyncio.Future[Any]:
        if key in self.refuse:
            raise RuntimeError(f"refused {key!r}")
        self.sent.append((topic, key, value, partition))
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack

    def acknowledge(self) -> None:
        for n, ack in enumerate(self.acks):
            if not ack.done():
                ack.set_result(n)


class Topic:
    """The changelog topic's serialization (JSON keys and values, as the dedup table's)."""

    def get_topic_name(self) -> str:
        return "fg-dedup-changelog"

    def prepare_key(self, key: Any, serializer: Any) -> tuple[bytes, Any]:
        return json.dumps(key).encode(), None

    def prepare_value(self, value: Any, serializer: Any, headers: Any = None
                      ) -> tuple[bytes | None, Any]:
        return (None if value is None else json.dumps(value).encode()), headers


def test_writes_reach_the_producer_in_the_order_made_a_slice_at_a_time() -> None:
    rng = random.Random(3)
    writes = [(rng.randrange(4), f"k{rng.randrange(50)}", rng.choice([None, {"n": i}]))
              for i in range(1000)]

    async def run() -> tuple[Producer, list[int], list[Any]]:
        producer = Producer()
        writer = ChangelogWriter(producer, Topic(), slice_size=100)
        seen: list[int] = []  # how many writes the producer had when another task ran

        async def other() -> None:
            while len(producer.sent) < len(writes):
                seen.append(len(producer.sent))
                await asyncio.sleep(0)

        sent = [writer.put(p, k, v) for p, k, v in writes]
        assert [s.message.partition for s in sent] == [p for p, _, _ in writes]
        await asyncio.gather(other(), asyncio.sleep(0.05))
        assert not any(s.done() for s in sent)  # not before Kafka acknowledged them
        producer.acknowledge()
        return producer, seen, await asyncio.gather(*sent)

    producer, seen, results = asyncio.run(run())
    expected = [("fg-dedup-changelog", json.dumps(k).encode(),
                 None if v is None else json.dumps(v).encode(), p) for p, k, v in writes]
    assert producer.sent == expected
    assert results == list(range(len(writes)))
    # the loop turned between slices, never within one
    assert any(0 < n < len(writes) for n in seen)
    assert all(n % 100 == 0 for n in seen)


def test_a_failed_write_fails_its_own_future_only() -> None:
    async def run() -> list[BaseException | None]:
        producer = Producer(refuse={b'"bad"'})
        writer = ChangelogWriter(producer, Topic())
        sent = [writer.put(0, key, {"v": 1}) for key in ("a", "bad", "c")]
        await asyncio.sleep(0.01)
        producer.acks[1].set_exception(RuntimeError("not acknowledged"))  # "c"
        producer.acks[0].set_result(0)
        await asyncio.wait(sent)
        return [s.exception() for s in sent]

    a, bad, c = asyncio.run(run())
    assert a is None
    assert isinstance(bad, RuntimeError) and "refused" in str(bad)
    assert isinstance(c, RuntimeError) and "not acknowledged" in str(c)


def test_writes_left_queued_when_stopped_are_cancelled() -> None:
    async def run() -> tuple[int, list[bool]]:
        producer = Producer()
        writer = ChangelogWriter(producer, Topic(), slice_size=10)
        sent = [writer.put(0, f"k{i}", {"v": i}) for i in range(50)]
        await asyncio.sleep(0)  # the first slice
        writer.stop()
        await asyncio.sleep(0)
        return len(producer.sent), [s.cancelled() for s in sent]

    handed, cancelled = asyncio.run(run())
    assert 0 < handed < 50
    assert cancelled == [False] * handed + [True] * (50 - handed)


def test_the_dedup_tables_sets_and_deletes_go_through_it_tracked(tmp_path: Path) -> None:
    """Faust's own ``on_key_set``/``on_key_del`` on the dedup table: each write goes to
    the key's changelog partition, in order, and the checkpoint waits for it."""
    settings = Settings().updated(data_dir=tmp_path,
                                  kafka={"topic_prefix": "fg.", "consumer_group": "fg-test"})
    app = create_app(settings, partitions=4)
    table, _ = add_dedup_table(app, 1_000_000, 4)
    producer = Producer()
    checkpoint = checkpoint_of(app)

    async def run() -> list[Any]:
        table.writer = ChangelogWriter(producer, table.changelog_topic)
        table["2|node|Host|h1"] = {"count": 1}
        table["3|node|Host|h2"] = {"count": 1}
        del table["2|node|Host|h1"]
        table["2|node|Host|h1"] = {"count": 2}
        tracked = list(checkpoint.pending)
        await asyncio.sleep(0.01)
        producer.acknowledge()
        await checkpoint.settle()
        return tracked

    tracked = asyncio.run(run())
    assert len(tracked) == 4 and all(t.done() and t.exception() is None for t in tracked)
    topic = table.changelog_topic.get_topic_name()
    assert [(t, json.loads(k), v and json.loads(v), p) for t, k, v, p in producer.sent] == [
        (topic, "2|node|Host|h1", {"count": 1}, 2), (topic, "3|node|Host|h2", {"count": 1}, 3),
        (topic, "2|node|Host|h1", None, 2), (topic, "2|node|Host|h1", {"count": 2}, 2)]
    assert dict(table) == {"3|node|Host|h2": {"count": 1}, "2|node|Host|h1": {"count": 2}}


def test_a_slice_of_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        ChangelogWriter(Producer(), Topic(), slice_size=0)
