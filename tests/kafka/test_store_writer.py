from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Provenance
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.store_writer import (
    GraphStoreWriter,
    KafkaRecord,
    StoreRetry,
    StoreUnavailable,
)
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.storage.base import GraphStore, StorageError, StorageUnavailable
from fleetgraph.storage.embedded import SQLiteGraphStore

CODEC = GraphRecordCodec(FLEET, TopicNames("fg."))


def _record(offset: int, node_id: str = "cdu:a") -> KafkaRecord:
    upsert = NodeUpsert("cdu", node_id, {"status": "ok"}, 10, Provenance("e", "s", 10, "t"))
    encoded = CODEC.encode(upsert)
    return KafkaRecord(encoded.topic, 0, offset, encoded.value)


class FlakyStore(SQLiteGraphStore):
    """Fails its first ``failures`` node writes with ``error``."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        super().__init__(FLEET)
        self.failures = failures
        self.error = error or StorageUnavailable("store unreachable")
        self.closed = False

    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        if self.failures:
            self.failures -= 1
            raise self.error
        super().upsert_nodes(nodes)

    def close(self) -> None:
        self.closed = True


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _writer(store: GraphStore, dead: DeadLetterList, retry: StoreRetry | None = None,
            clock: FakeTime | None = None) -> GraphStoreWriter:
    clock = clock or FakeTime()
    return GraphStoreWriter(CODEC, lambda: store, dead, retry=retry or StoreRetry(),
                            sleep=clock.sleep,
                            clock=lambda: clock.now)


class DriverDown(Exception):
    """Stands for a driver's outage error (the backends' tests map the real ones)."""


def _outage() -> StorageUnavailable:
    """What a store raises while it cannot be reached: its driver's error mapped."""
    try:
        raise DriverDown("Unable to connect to any servers")
    except DriverDown as exc:
        try:
            raise StorageUnavailable("cassandra at 127.0.0.1:9042: write failed") from exc
        except StorageUnavailable as error:
            return error


def test_unreadable_records_go_to_the_dead_letters_the_rest_to_the_store() -> None:
    store, dead = SQLiteGraphStore(FLEET), DeadLetterList()
    writer = _writer(store, dead)
    bad = KafkaRecord("fg.graph.node.cdu", 1, 5, b"\x00garbage")
    assert writer.write([_record(1), bad, _record(2, "cdu:b")]) == 2
    assert set(store.get_nodes(["cdu:a", "cdu:b"])) == {"cdu:a", "cdu:b"}
    assert [(r["reason"], r["source"]) for r in dead.records] == [
        ("unknown_schema", "fg.graph.node.cdu/1/5")]


def test_only_storage_unavailable_is_waited_out_other_errors_are_dead_lettered() -> None:
    store, dead, clock = FlakyStore(failures=1), DeadLetterList(), FakeTime()
    assert _writer(store, dead, clock=clock).write([_record(1)]) == 1  # an outage: waited
    assert dead.records == [] and clock.slept == [0.5]
    store, dead = FlakyStore(failures=3, error=StorageError("not a string")), DeadLetterList()
    assert _writer(store, dead).write([_record(1)]) == 0  # a refusal: dead-lettered
    assert [r["reason"] for r in dead.records] == ["store_error"]
    store, dead = FlakyStore(failures=3, error=ValueError("a bug")), DeadLetterList()
    assert _writer(store, dead).write([_record(1)]) == 0  # no batch stops the worker
    assert [r["reason"] for r in dead.records] == ["store_error"]


def test_backoff_doubles_up_to_its_cap() -> None:
    retry = StoreRetry(first_backoff_s=0.5, max_backoff_s=10.0)
    assert [retry.backoff(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert retry.backoff(10_000) == 10.0


def test_an_outage_is_waited_out_and_nothing_is_dead_lettered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, dead, clock = FlakyStore(failures=7, error=_outage()), DeadLetterList(), FakeTime()
    writer = _writer(store, dead, StoreRetry(max_backoff_s=4.0, deadline_s=600.0,
                                             reconnect_every=100), clock)
    with caplog.at_level(logging.WARNING, logger="fleetgraph.ingest.kafka.store_writer"):
        assert writer.write([_record(1), _record(2, "cdu:b")]) == 2
    assert dead.records == []
    assert clock.slept == [0.5, 1, 2, 4, 4, 4, 4]
    assert set(store.get_nodes(["cdu:a", "cdu:b"])) == {"cdu:a", "cdu:b"}
    assert (writer.written, writer.retries) == (2, 7)
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 7
    assert all(m.startswith("store unavailable: ") and "write failed" in m
               and "caused by DriverDown" in m for m in retries)
    assert "after 7 failed attempts" in caplog.records[-1].getMessage()


def test_the_store_is_rebuilt_every_few_failures() -> None:
    made: list[FlakyStore] = []

    def factory() -> GraphStore:
        made.append(FlakyStore(failures=2 if not made else 0, error=_outage()))
        return made[-1]

    clock = FakeTime()
    writer = GraphStoreWriter(CODEC, factory, DeadLetterList(),
                              retry=StoreRetry(reconnect_every=2), sleep=clock.sleep,
                              clock=lambda: clock.now)
    assert writer.write([_record(1)]) == 1
    assert len(made) == 2 and made[0].closed and not made[1].closed
    assert writer.reconnects == 1


def test_a_store_that_cannot_even_be_made_is_waited_for() -> None:
    attempts: list[int] = []

    def factory() -> GraphStore:
        attempts.append(1)
        if len(attempts) < 4:
            raise _outage()
        return SQLiteGraphStore(FLEET)

    clock = FakeTime()
    writer = GraphStoreWriter(CODEC, factory, DeadLetterList(), sleep=clock.sleep,
                              clock=lambda: clock.now)
    assert writer.write([_record(1)]) == 1
    assert len(attempts) == 4


def test_an_outage_past_the_deadline_stops_the_writer_without_dead_letters() -> None:
    store, dead, clock = FlakyStore(failures=10**6, error=_outage()), DeadLetterList(), FakeTime()
    writer = _writer(store, dead, StoreRetry(max_backoff_s=10.0, deadline_s=60.0), clock)
    with pytest.raises(StoreUnavailable, match="deadline 60 s"):
        writer.write([_record(1)])
    assert dead.records == []
    assert clock.now == 60.0  # the last wait ends at the deadline, then one more try
    assert max(clock.slept) == 10.0


def test_a_batch_the_store_refuses_is_retried_then_dead_lettered() -> None:
    refusal = StorageError("property 'status': not a string")
    store, dead = FlakyStore(failures=2, error=refusal), DeadLetterList()
    assert _writer(store, dead).write([_record(1)]) == 1
    assert dead.records == []
    store, dead, clock = FlakyStore(failures=3, error=refusal), DeadLetterList(), FakeTime()
    assert _writer(store, dead, clock=clock).write([_record(1), _record(2)]) == 0
    assert [r["reason"] for r in dead.records] == ["store_error", "store_error"]
    assert clock.slept == [0.5, 1.0]


def test_retry_limits_come_from_settings() -> None:
    from fleetgraph.settings import Settings

    retry = StoreRetry.from_settings(Settings().updated(
        ingest={"store_retry_max_backoff_s": 3.0, "store_outage_deadline_s": 42.0}))
    assert (retry.max_backoff_s, retry.deadline_s) == (3.0, 42.0)


def _many(offset: int, node_ids: Sequence[str]) -> KafkaRecord:
    """One graph message carrying several upserts (as the flush timer sends them)."""
    upserts = [NodeUpsert("cdu", n, {"status": "ok"}, 10, Provenance("e", "s", 10, "t"))
               for n in node_ids]
    (encoded,) = CODEC.encode_many(upserts)
    return KafkaRecord(encoded.topic, 0, offset, encoded.value)


def test_decode_chunks_splits_a_batch_and_a_record_into_parts_of_at_most_n_upserts() -> None:
    records = [_many(0, ["cdu:a", "cdu:b", "cdu:c", "cdu:d", "cdu:e"]), _record(1, "cdu:f"),
               KafkaRecord(_record(2).topic, 0, 2, b"\x00garbage"), _many(3, ["cdu:g", "cdu:h"])]
    dead = DeadLetterList()
    whole = _writer(SQLiteGraphStore(FLEET), DeadLetterList()).decode(records)
    chunks = list(_writer(SQLiteGraphStore(FLEET), dead).decode_chunks(records, 3))
    assert [len(c) for c in chunks] == [3, 3, 2]
    assert [(r.offset, u.id) for c in chunks for r, u in c] == [(r.offset, u.id) for r, u in whole]
    assert [r["source"] for r in dead.records] == ["fg.graph.node.cdu/0/2"]
    with pytest.raises(ValueError):
        list(_writer(SQLiteGraphStore(FLEET), dead).decode_chunks(records, 0))
