"""Several graph upserts to a Kafka message, and Cassandra writes packed across
partitions: nothing lost, nothing doubled, every limit kept."""

from __future__ import annotations

import random

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.kafka import records as records_module
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.sinks import GraphTopicSink
from fleetgraph.ingest.kafka.store_writer import GraphStoreWriter, KafkaRecord
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.storage.cassandra.store import (
    MAX_BATCH,
    MAX_BATCH_BYTES,
    MAX_BATCH_PARTITIONS,
    _size,
    packed,
    replication_factor,
)
from fleetgraph.storage.cassandra.writes import Write
from fleetgraph.storage.embedded import SQLiteGraphStore

CODEC = GraphRecordCodec(FLEET, TopicNames("fg."))


def _upserts(n: int, seed: int = 3) -> list[Upsert]:
    rng = random.Random(seed)
    out: list[Upsert] = []
    for i in range(n):
        p = Provenance(f"e{i}", f"fg.telemetry/0/{i}", 1_000 + i, "test")
        if rng.random() < 0.5:
            out.append(NodeUpsert("cdu", f"cdu:s{i % 7}-c{i}", {"status": rng.choice(
                ["ok", "fault"]), "supply_temp_c": rng.random() * 40}, 1_000 + i, p))
        else:
            out.append(EdgeUpsert("cooled_by", f"rack:s1-r{i}", f"cdu:s1-c{i % 5}",
                                  {"valid_from": i, "valid_to": None}, 1_000 + i, p))
    return out


def test_many_upserts_travel_in_few_messages_and_come_back_in_order() -> None:
    upserts = _upserts(1_300)
    encoded = CODEC.encode_many(upserts)
    assert len(encoded) < 10  # two types, PER_MESSAGE each at most
    back: dict[str, list[Upsert]] = {}
    for record in encoded:
        back.setdefault(record.topic, []).extend(CODEC.decode_all(record.topic, record.value))
    expected: dict[str, list[Upsert]] = {}
    for u in upserts:  # independently: each upsert on its own
        single = CODEC.encode(u)
        expected.setdefault(single.topic, []).append(CODEC.decode(single.topic, single.value))
    assert back == expected


def test_a_message_stays_under_its_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records_module, "PER_MESSAGE", 7)
    upserts = [u for u in _upserts(200) if isinstance(u, NodeUpsert)]
    encoded = CODEC.encode_many(upserts)
    counts = [len(CODEC.decode_all(r.topic, r.value)) for r in encoded]
    assert sum(counts) == len(upserts) and max(counts) == 7
    assert encoded[0].key == upserts[0].id.encode()  # keyed by its first upsert
    monkeypatch.setattr(records_module, "PER_MESSAGE", 10_000)
    monkeypatch.setattr(records_module, "MESSAGE_BYTES", 1_000)
    encoded = CODEC.encode_many(upserts)
    one = len(CODEC.encode(upserts[0]).value)
    assert all(len(r.value) < 1_000 + 4 * one for r in encoded) and len(encoded) > 1


def test_a_damaged_message_is_refused_whole_and_a_single_record_is_still_one() -> None:
    upserts = [u for u in _upserts(40) if isinstance(u, NodeUpsert)]
    record = CODEC.encode_many(upserts)[0]
    for damaged in (record.value[:-3], record.value[: len(record.value) // 2],
                    record.value + b"\x00"):
        with pytest.raises(RejectedEvent):
            CODEC.decode_all(record.topic, damaged)
    with pytest.raises(RejectedEvent) as refused:
        CODEC.decode(record.topic, record.value)  # more than one
    assert refused.value.reason == "undecodable"
    single = CODEC.encode(upserts[0])
    assert CODEC.decode_all(single.topic, single.value) == [CODEC.decode(single.topic,
                                                                         single.value)]


def test_the_sink_stores_every_upsert_of_a_batch_message() -> None:
    upserts = _upserts(300)
    published: list[tuple[str, bytes | None, bytes]] = []
    sink = GraphTopicSink(CODEC, lambda t, k, v: published.append((t, k, v)))
    sink.write(upserts)
    assert sum(sink.written.values()) == len(upserts)
    batched = SQLiteGraphStore(FLEET)
    dead = DeadLetterList()
    writer = GraphStoreWriter(CODEC, lambda: batched, dead)
    stored = writer.write([KafkaRecord(t, 0, i, v) for i, (t, _, v) in enumerate(published)])
    assert stored == len(upserts) and not dead.records
    one_by_one = SQLiteGraphStore(FLEET)  # the same upserts, one record each
    GraphStoreWriter(CODEC, lambda: one_by_one, DeadLetterList()).write(
        [KafkaRecord(r.topic, 0, i, r.value) for i, r in enumerate(map(CODEC.encode, upserts))])
    assert list(batched.dump()) == list(one_by_one.dump())


def test_a_refused_batch_dead_letters_each_message_once() -> None:
    upserts = [u for u in _upserts(50) if isinstance(u, NodeUpsert)]
    encoded = CODEC.encode_many(upserts)
    dead = DeadLetterList()
    writer = GraphStoreWriter(CODEC, lambda: SQLiteGraphStore(FLEET), dead)
    records = [KafkaRecord(r.topic, 0, i, r.value) for i, r in enumerate(encoded)]
    writer.refuse(writer.decode(records), RuntimeError("refused"))
    assert len(dead.records) == len(records)


def _writes(rng: random.Random, n: int) -> list[list[Write]]:
    chunks = []
    for p in range(n):
        size = rng.choice([1, 1, 2, 3, 5, 32])
        text = "x" * rng.choice([5, 50, 400])
        chunks.append([Write(None, ("c",), (p, i, text), ("t", p))  # type: ignore[arg-type]
                       for i in range(size)])
    return chunks


def test_packing_keeps_every_write_once_and_every_limit() -> None:
    rng = random.Random(11)
    chunks = _writes(rng, 400)
    batches = packed(chunks)
    flat = [w for batch in batches for w in batch]
    assert sorted(flat) == sorted(w for chunk in chunks for w in chunk)
    for batch in batches:
        partitions = {w.partition for w in batch}
        if len(partitions) > 1:  # more than one chunk: within every limit
            assert len(batch) <= MAX_BATCH
            assert len(partitions) <= MAX_BATCH_PARTITIONS
            assert sum(_size(w) for w in batch) <= MAX_BATCH_BYTES
    # a chunk (one partition's statements) is never split
    where = {id(w): i for i, batch in enumerate(batches) for w in batch}
    assert all(len({where[id(w)] for w in chunk}) == 1 for chunk in chunks)
    assert len(batches) < len(chunks)


def test_the_replication_factor_is_read_from_the_replication_map() -> None:
    assert replication_factor("{'class': 'SimpleStrategy', 'replication_factor': 3}") == 3
    assert replication_factor("{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': '2'}") == 2
    assert replication_factor("not a map") is None
    assert replication_factor("{'class': 'SimpleStrategy'}") is None
