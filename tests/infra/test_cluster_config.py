"""The local cluster's configuration (infra/cluster.py), rendered without starting a
JVM: each node on its own loopback address, the KRaft quorum of every broker, three
copies of everything, and the environment `stack up` prints for it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetgraph.cli.main import cli
from fleetgraph.infra import cluster
from fleetgraph.infra.stack import StackError, stack_settings
from fleetgraph.settings import Settings


@pytest.fixture
def layout(tmp_path: Path) -> cluster.ClusterLayout:
    settings = stack_settings({"FLEETGRAPH_STACK_HOME": str(tmp_path / "stack")})
    made = cluster.ClusterLayout.for_size(3, 3, settings=settings)
    jamm = made.lib_dir("cassandra") / "jamm-0.4.0.jar"  # the Cassandra command needs one
    jamm.parent.mkdir(parents=True)
    jamm.touch()
    return made


def _properties(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def test_the_cluster_lives_apart_from_the_single_node_stack(
        layout: cluster.ClusterLayout, tmp_path: Path) -> None:
    assert layout.home == (tmp_path / "stack" / "cluster").resolve()
    assert layout.lib_dir("kafka-2") == (tmp_path / "stack" / "lib" / "kafka").resolve()
    assert layout.pid_file("cassandra-3") == layout.home / "run" / "cassandra-3.pid"
    assert layout.main_log("kafka-1") == layout.home / "logs" / "kafka-1" / "server.log"
    assert layout.main_log("cassandra-1").name == "system.log"
    addresses = {n.name: n.address for n in layout.nodes}
    assert addresses == {"cassandra-1": "127.0.0.2", "cassandra-2": "127.0.0.3",
                         "cassandra-3": "127.0.0.4", "kafka-1": "127.0.0.2",
                         "kafka-2": "127.0.0.3", "kafka-3": "127.0.0.4"}
    assert "127.0.0.1" not in addresses.values()


def test_each_broker_is_a_voter_on_its_own_address(layout: cluster.ClusterLayout) -> None:
    for node in layout.kafka:
        command = cluster._kafka_command(layout, node, Path("/jdk"))
        assert "-Xmx320m" in command and command[-2] == "kafka.Kafka"
        props = _properties(Path(command[-1]))
        assert props["node.id"] == str(node.index)
        assert props["controller.quorum.voters"] == (
            "1@127.0.0.2:9093,2@127.0.0.3:9093,3@127.0.0.4:9093")
        assert props["listeners"] == (
            f"PLAINTEXT://{node.address}:9092,CONTROLLER://{node.address}:9093")
        assert props["advertised.listeners"] == f"PLAINTEXT://{node.address}:9092"
        assert (props["default.replication.factor"], props["min.insync.replicas"]) == ("3", "2")
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["log.dirs"].startswith(str(layout.home))


def test_each_cassandra_node_has_its_address_token_and_jmx_port(
        layout: cluster.ClusterLayout) -> None:
    tokens = []
    for node in layout.cassandra:
        command = cluster._cassandra_command(layout, node, Path("/jdk"))
        assert "-Xmx640m" in command
        assert f"-Dcassandra.jmx.local.port={7200 + node.index}" in command
        yaml = (layout.conf_dir(node.name) / "cassandra.yaml").read_text()
        assert f"listen_address: {node.address}\n" in yaml
        assert f"rpc_address: {node.address}\n" in yaml
        assert 'seeds: "127.0.0.2:7000,127.0.0.3:7000"' in yaml
        assert "cluster_name: fleetgraph-cluster\n" in yaml
        assert "auto_bootstrap: false\n" in yaml
        assert "hinted_handoff_enabled: true" in yaml
        assert "127.0.0.1" not in yaml
        match = re.search(r"^initial_token: (-?\d+)$", yaml, re.M)
        assert match
        tokens.append(int(match.group(1)))
    assert tokens == sorted(tokens) and tokens[0] == -(2**63)
    assert tokens[1] - tokens[0] == tokens[2] - tokens[1] == 2**64 // 3


def test_the_printed_environment_gives_settings_for_the_cluster(
        layout: cluster.ClusterLayout) -> None:
    settings = Settings.from_environ(cluster.environment(layout))
    assert settings.kafka.bootstrap == "127.0.0.2:9092,127.0.0.3:9092,127.0.0.4:9092"
    assert (settings.kafka.replication_factor, settings.kafka.min_insync_replicas) == (3, 2)
    store = settings.store
    assert store.kind == "cassandra"
    assert store.cassandra.contact_points == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert store.cassandra.replication == (
        "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    assert (store.cassandra.read_consistency, store.cassandra.write_consistency) == (
        "QUORUM", "QUORUM")


def test_the_single_node_defaults_are_unchanged() -> None:
    settings = Settings.from_environ({})
    assert (settings.kafka.replication_factor, settings.kafka.min_insync_replicas) == (1, None)
    assert settings.store.cassandra.replication == (
        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    assert settings.store.cassandra.read_consistency == "LOCAL_QUORUM"


def test_sizes_come_from_the_manifest_and_a_resize_is_refused(
        layout: cluster.ClusterLayout) -> None:
    cluster._write_manifest(layout)
    assert json.loads((layout.home / "cluster.json").read_text()) == {
        "cassandra": 3, "kafka": 3}
    again = cluster.ClusterLayout.for_size(settings=layout.settings)
    assert (again.cassandra_nodes, again.kafka_brokers) == (3, 3)
    (layout.home / "data").mkdir()
    bigger = cluster.ClusterLayout.for_size(5, 3, settings=layout.settings)
    with pytest.raises(StackError, match="has 3 Cassandra nodes and 3 Kafka brokers, not 5"):
        cluster._write_manifest(bigger)
    with pytest.raises(StackError, match="1 to 9"):
        cluster.ClusterLayout.for_size(0, 3, settings=layout.settings)


def test_a_node_that_does_not_answer_is_named_with_its_log(
        layout: cluster.ClusterLayout) -> None:
    node = layout.node("cassandra-2")
    log = layout.main_log(node.name)
    log.parent.mkdir(parents=True)
    log.write_text("INFO starting\nERROR something broke\n")
    error = cluster._not_answering(layout, node, "did not answer within 150 s")
    assert str(error).startswith("cassandra-2 (127.0.0.3:9042) did not answer within 150 s")
    assert str(log) in str(error) and "ERROR something broke" in str(error)
    with pytest.raises(StackError, match="no node 'cassandra-7'"):
        layout.node("cassandra-7")


def test_the_cli_refuses_only_with_a_cluster() -> None:
    result = CliRunner().invoke(cli, ["stack", "up", "--cassandra-nodes", "3", "--only",
                                      "kafka"])
    assert result.exit_code != 0 and "--only is for the single-node stack" in result.output
