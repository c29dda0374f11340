"""A value the store cannot hold stops nothing: the write is atomic, the one
update that carries it is found and its message dead-lettered, the rest stored.

Validation refuses such values first (tests/ingest/test_validate_and_filter.py);
these tests switch domain checks off to reach the store's own line of defence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Provenance
from fleetgraph.graph_model.types import Prop
from fleetgraph.ingest.deadletter import DeadLetterFile, DeadLetterList, read_dead_letters
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.store_writer import GraphStoreWriter, KafkaRecord, StoreRetry
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.message import Event, Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.stages.dedup import DedupBuffer, DedupMode
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import Topic
from fleetgraph.storage.base import StorageError, StorageUnavailable
from fleetgraph.storage.embedded import SQLiteGraphStore

NOW = 1_763_000_000_000_000
HUGE = 2**70  # beyond SQLite's 64-bit INTEGER
CODEC = load_event_codec()


def server_update(n: int, gpu_count: str, *, server: str = "server:n1") -> Message:
    event = {"event_id": f"inventory-{n}", "event_time": NOW + n, "kind": "updated",
             "component_id": server, "parent_id": None, "relation": None, "target_id": None,
             "attributes": {"gpu_count": gpu_count}}
    return Message(Topic.INVENTORY.value, CODEC.encode(Topic.INVENTORY, event), f"test:{n}")


def node(node_id: str, **props: Any) -> NodeUpsert:
    return NodeUpsert(node_id.split(":")[0], node_id, props, NOW,
                      Provenance("e1", "test:1", NOW, "test"))


class Unchecked(Validator):
    """Lets every event through, as validation did before properties had domains."""

    def check(self, event: Event) -> list[RejectedEvent]:
        return []


@pytest.fixture
def no_domains(monkeypatch: pytest.MonkeyPatch) -> None:
    def unchecked(self: Prop, value: Any) -> None:
        pass

    monkeypatch.setattr(Prop, "check", unchecked)


def test_a_refused_write_leaves_the_store_as_it_was_and_open_for_the_next() -> None:
    store = SQLiteGraphStore(FLEET)
    with pytest.raises(StorageError) as refused:
        store.upsert_nodes([node("server:n1", gpu_count=8), node("server:n2", gpu_count=HUGE)])
    assert not isinstance(refused.value, StorageUnavailable)  # bad data, not an outage
    assert store.get_nodes(["server:n1", "server:n2"]) == {}  # all or nothing
    store.upsert_nodes([node("server:n3", gpu_count=4)])
    assert store.get_nodes(["server:n3"])["server:n3"].props == {"gpu_count": 4}


@pytest.mark.usefixtures("no_domains")
def test_the_update_the_store_refuses_is_dead_lettered_and_the_others_are_stored(
    tmp_path: Path,
) -> None:
    store = SQLiteGraphStore(FLEET)
    dead = DeadLetterFile(tmp_path / "dead.jsonl")
    messages = [server_update(n, "8", server=f"server:n{n}") for n in range(1, 10)]
    messages[4] = server_update(5, str(HUGE), server="server:n5")
    for _ in range(2):  # a rerun finishes too
        pipeline = Pipeline(FLEET, CODEC, StoreSink(store), dead, validator=Unchecked(FLEET),
                            batch_size=4)
        report = run_embedded(pipeline, lambda: messages)
    dead.close()

    stored = store.get_nodes([f"server:n{n}" for n in range(1, 10)])
    assert sorted(stored) == [f"server:n{n}" for n in (1, 2, 3, 4, 6, 7, 8, 9)]
    records = read_dead_letters(dead.path)
    assert [(r["reason"], r["source"]) for r in records] == [("store_refused", "test:5")] * 2
    assert "server:n5" in records[0]["detail"] and "OverflowError" in records[0]["detail"]
    s = report.stats
    assert (s.received, s.accepted, s.dead_lettered) == (9, 8, 1)


@pytest.mark.usefixtures("no_domains")
@pytest.mark.parametrize(("mode", "refused", "stored"), [
    # dedup merged the three updates of server:n1 into one, which the store refused
    ("trailing", ["test:1", "test:2", "test:3"], {"server:n2"}),
    # the first was written at once (the leading edge); the other two merged, refused
    ("leading", ["test:2", "test:3"], {"server:n1", "server:n2"}),
])
def test_every_message_merged_into_a_refused_update_is_dead_lettered_once(
        mode: DedupMode, refused: list[str], stored: set[str]) -> None:
    store = SQLiteGraphStore(FLEET)
    dead = DeadLetterList()
    pipeline = Pipeline(FLEET, CODEC, StoreSink(store), dead, validator=Unchecked(FLEET),
                        dedup=DedupBuffer(window_us=5_000_000, mode=mode))
    messages = [server_update(1, "8"), server_update(2, "4"), server_update(3, str(HUGE)),
                server_update(4, "2", server="server:n2")]
    report = run_embedded(pipeline, lambda: messages)
    assert [r["source"] for r in dead.records] == refused
    assert set(store.get_nodes(["server:n1", "server:n2"])) == stored
    assert (report.stats.accepted, report.stats.dead_lettered) == (4 - len(refused), len(refused))


def test_the_kafka_store_writer_takes_an_unstorable_value_for_a_refusal_not_an_outage() -> None:
    store = SQLiteGraphStore(FLEET)
    sleeps: list[float] = []
    writer = GraphStoreWriter(GraphRecordCodec(FLEET, TopicNames("fg.")), lambda: store,
                              DeadLetterList(), retry=StoreRetry(deadline_s=5.0),
                              sleep=sleeps.append)
    record = KafkaRecord("fg.graph.node.server", 0, 7, b"")
    error = writer.store([(record, node("server:n1", gpu_count=HUGE))])
    assert error is not None and not isinstance(error, StorageUnavailable)
    assert len(sleeps) == writer.retry.refusal_attempts - 1  # retried as a refusal, then given up
    assert writer.store([(record, node("server:n2", gpu_count=8))]) is None
    assert set(store.get_nodes(["server:n1", "server:n2"])) == {"server:n2"}
