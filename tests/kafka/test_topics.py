from __future__ import annotations

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.topics import TopicNames, state_copies
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


def test_the_dedup_changelog_has_as_many_copies_as_its_sources() -> None:
    sources = ["fg.telemetry", "fg.jobs"]
    # the settings' replication factor when no source topic exists yet or they have fewer
    assert state_copies(1, {}, sources) == 1
    assert state_copies(3, {"fg.telemetry": 1, "fg.jobs": 1}, sources) == 3
    # the fewest copies of a source topic when that is more (a changelog with fewer
    # copies than its sources loses committed updates with one broker)
    assert state_copies(1, {"fg.telemetry": 3, "fg.jobs": 2, "fg.other": 5}, sources) == 2
    assert state_copies(1, {"fg.jobs": 3, "fg.changelog": 1}, sources) == 3
