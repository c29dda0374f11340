from __future__ import annotations

from collections.abc import Sequence

from graph_model import FLEET
from graph_model.records import NodeUpsert, Provenance
from ingest.deadletter import DeadLetterList
from ingest.kafka.records import GraphRecordCodec
from ingest.kafka.store_writer import GraphStoreWriter, KafkaRecord
from ingest.kafka.topics import TopicNames
from storage.base import GraphStore
from storage.embedded import SQLiteGraphStore

CODEC = GraphRecordCodec(FLEET, TopicNames("fg."))


def _record(offset: int, node_id: str = "cdu:a") -> KafkaRecord:
    upsert = NodeUpsert("cdu", node_id, {"status": "ok"}, 10, Provenance("e", "s", 10, "t"))
    encoded = CODEC.encode(upsert)
    return KafkaRecord(encoded.topic, 0, offset, encoded.value)


class FlakyStore(SQLiteGraphStore):
    def __init__(self, failures: int) -> None:
        super().__init__(FLEET)
        self.failures = failures

    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("store unreachable")
        super().upsert_nodes(nodes)


def _writer(store: GraphStore, dead: DeadLetterList) -> GraphStoreWriter:
    return GraphStoreWriter(CODEC, lambda: store, dead, attempts=3, sleep=lambda s: None)


def test_unreadable_records_go_to_the_dead_letters_the_rest_to_the_store() -> None:
    store, dead = SQLiteGraphStore(FLEET), DeadLetterList()
    writer = _writer(store, dead)
    bad = KafkaRecord("fg.graph.node.cdu", 1, 5, b"\x00garbage")
    assert writer.write([_record(1), bad, _record(2, "cdu:b")]) == 2
    assert set(store.get_nodes(["cdu:a", "cdu:b"])) == {"cdu:a", "cdu:b"}
    assert [(r["reason"], r["source"]) for r in dead.records] == [
        ("unknown_schema", "fg.graph.node.cdu/1/5")]


def test_the_store_is_retried_then_the_batch_is_dead_lettered() -> None:
    store, dead = FlakyStore(failures=2), DeadLetterList()
    assert _writer(store, dead).write([_record(1)]) == 1
    assert dead.records == []
    store, dead = FlakyStore(failures=3), DeadLetterList()
    assert _writer(store, dead).write([_record(1), _record(2)]) == 0
    assert [r["reason"] for r in dead.records] == ["store_error", "store_error"]
