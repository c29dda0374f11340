from __future__ import annotations

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.topics import TopicNames

P = Provenance("e1", "fg.telemetry/2/17", 1_000, "test")
CODEC = GraphRecordCodec(FLEET, TopicNames("fg."))


def test_a_node_goes_to_its_type_topic_keyed_by_id_and_comes_back() -> None:
    node = NodeUpsert("cdu", "cdu:s1-c1", {"status": "fault", "supply_temp_c": None}, 1_000, P,
                      {"status": 900}, (800, "e0"))
    record = CODEC.encode(node)
    assert record.topic == "fg.graph.node.cdu"
    assert record.key == b"cdu:s1-c1"
    assert CODEC.decode(record.topic, record.value) == node


def test_an_edge_is_keyed_by_its_from_node() -> None:
    edge = EdgeUpsert("cooled_by", "rack:s1-r1", "cdu:s1-c1", {"valid_from": 5, "valid_to": None},
                      1_000, P)
    record = CODEC.encode(edge)
    assert (record.topic, record.key) == ("fg.graph.edge.cooled_by", b"rack:s1-r1")
    back = CODEC.decode(record.topic, record.value)
    assert isinstance(back, EdgeUpsert)
    assert (back.from_id, back.to_id, back.props) == (edge.from_id, edge.to_id, edge.props)


def test_a_record_of_another_schema_is_refused_not_misread() -> None:
    record = CODEC.encode(NodeUpsert("cdu", "cdu:x", {"status": "ok"}, 1, P))
    with pytest.raises(RejectedEvent) as refused:
        CODEC.decode("fg.graph.node.rack", record.value)
    assert refused.value.reason == "unknown_schema"
    with pytest.raises(RejectedEvent) as refused:
        CODEC.decode("fg.graph.node.cdu", record.value[:-3])
    assert refused.value.reason == "undecodable"
    with pytest.raises(RejectedEvent) as refused:
        CODEC.decode("fg.telemetry", record.value)
    assert refused.value.reason == "unknown_graph_topic"
