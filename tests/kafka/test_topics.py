from __future__ import annotations

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.schemas.topics import Topic


def test_names_of_a_deployment() -> None:
    names = TopicNames("fg.")
    assert names.source(Topic.TELEMETRY) == "fg.telemetry"
    assert names.source_of("fg.jobs") is Topic.JOBS
    assert names.source_of("other.jobs") is None
    assert names.graph("node", "cdu") == "fg.graph.node.cdu"
    assert names.graph("edge", "cooled_by") == "fg.graph.edge.cooled_by"
    assert names.deadletter == "fg.deadletter"


def test_one_graph_topic_per_node_and_edge_type() -> None:
    names = TopicNames("fg.")
    topics = names.graph_topics(FLEET)
    assert len(topics) == len(FLEET.nodes) + len(FLEET.edges)
    assert topics["fg.graph.edge.had_fault"] == ("edge", "had_fault")
    everything = names.all(FLEET)
    assert len(everything) == len(set(everything)) == len(topics) + 4 + 1


def test_the_inventory_keeps_its_history() -> None:
    names = TopicNames("fg.")
    assert names.configs("fg.inventory")["retention.ms"] == "-1"
    assert names.configs("fg.telemetry") == {}
