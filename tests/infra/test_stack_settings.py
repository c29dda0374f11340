"""The stack's settings are the ``stack`` section of the one settings tree, read from
the same FLEETGRAPH_* variables as before, with errors that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleetgraph.infra.stack import (
    CASSANDRA,
    KAFKA,
    REPO_ROOT,
    LocalStack,
    StackError,
    _kafka_command,
    endpoints,
    stack_home,
    stack_settings,
)
from fleetgraph.settings import Settings, StackSettings


def test_defaults() -> None:
    section = stack_settings({})
    assert (section.kafka_port, section.controller_port, section.cassandra_port) == (
        9092, 9093, 9042)
    assert (section.cassandra_storage_port, section.cassandra_jmx_port) == (7000, 7199)
    assert (section.kafka_heap, section.cassandra_heap, section.java_home) == ("1g", "1g", None)
    assert stack_home(section) == (REPO_ROOT / ".fleetgraph" / "stack").resolve()
    ends = endpoints(section)
    assert (ends.kafka_bootstrap_servers, ends.cassandra_contact_points, ends.cassandra_port) == (
        "127.0.0.1:9092", ("127.0.0.1",), 9042)


def test_the_variables(tmp_path: Path) -> None:
    section = stack_settings({
        "FLEETGRAPH_STACK_HOME": str(tmp_path / "home"), "FLEETGRAPH_KAFKA_PORT": "9192",
        "FLEETGRAPH_CASSANDRA_PORT": "9142", "FLEETGRAPH_CASSANDRA_STORAGE_PORT": "7100",
        "FLEETGRAPH_CASSANDRA_JMX_PORT": "7299", "FLEETGRAPH_KAFKA_HEAP": "768m",
        "FLEETGRAPH_CASSANDRA_HEAP": " 2G ", "FLEETGRAPH_JAVA_HOME": "/opt/jdk",
        "FLEETGRAPH_STORE": "embedded"})
    assert section.kafka_port == 9192 and section.controller_port == 9193
    assert section.cassandra_port == 9142  # FLEETGRAPH_CASSANDRA_PORT, read by the store
    assert (section.cassandra_storage_port, section.cassandra_jmx_port) == (7100, 7299)
    assert (section.kafka_heap, section.cassandra_heap) == ("768m", "2G")
    assert section.java_home == Path("/opt/jdk")
    assert stack_home(section) == tmp_path / "home"
    local = LocalStack.of(section)
    assert local.port(KAFKA) == 9192 and local.port(CASSANDRA) == 9142
    assert local.lib_dir(KAFKA) == tmp_path / "home" / "lib" / "kafka"
    assert local.pid_file(CASSANDRA) == tmp_path / "home" / "run" / "cassandra.pid"
    assert local.main_log(CASSANDRA) == tmp_path / "home" / "logs" / "cassandra" / "system.log"
    explicit = stack_settings({"FLEETGRAPH_KAFKA_CONTROLLER_PORT": "9300"})
    assert explicit.controller_port == 9300
    assert stack_home(stack_settings({"FLEETGRAPH_STACK_HOME": "~/stack"})) == (
        Path.home() / "stack").resolve()


def test_the_tree_builds_the_same_section() -> None:
    tree = Settings.from_environ({}).updated(stack={"kafka_port": 9500},
                                             store={"cassandra": {"port": 9600}})
    assert tree.stack.kafka_port == 9500 and tree.stack.controller_port == 9501
    assert tree.stack.cassandra_port == 9600  # copied from the store's section
    assert isinstance(tree.stack, StackSettings)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("FLEETGRAPH_KAFKA_HEAP", "2x",
     "FLEETGRAPH_KAFKA_HEAP='2x' is not a JVM heap size such as 1g or 768m"),
    ("FLEETGRAPH_CASSANDRA_HEAP", "lots",
     "FLEETGRAPH_CASSANDRA_HEAP='lots' is not a JVM heap size such as 1g or 768m"),
    ("FLEETGRAPH_KAFKA_PORT", "x", "FLEETGRAPH_KAFKA_PORT='x': expected a whole number"),
    ("FLEETGRAPH_CASSANDRA_PORT", "nine", "FLEETGRAPH_CASSANDRA_PORT='nine': expected a whole"),
    ("FLEETGRAPH_KAFKA_PORT", "70000",
     "FLEETGRAPH_KAFKA_PORT=70000 is not a port number (1-65535)"),
    ("FLEETGRAPH_CASSANDRA_JMX_PORT", "0",
     "FLEETGRAPH_CASSANDRA_JMX_PORT=0 is not a port number (1-65535)"),
])
def test_bad_values_name_their_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(StackError) as raised:
        stack_settings({variable: value})
    assert str(raised.value).startswith(message), str(raised.value)


def test_the_kafka_configuration_uses_the_controller_port(tmp_path: Path) -> None:
    section = stack_settings({"FLEETGRAPH_STACK_HOME": str(tmp_path),
                              "FLEETGRAPH_KAFKA_PORT": "9192", "FLEETGRAPH_KAFKA_HEAP": "512m"})
    command = _kafka_command(LocalStack.of(section), Path("/jdk"))
    properties = (tmp_path / "conf" / "kafka" / "server.properties").read_text()
    assert "9192" in properties and "9193" in properties
    assert "-Xmx512m" in command
    assert f"-Dfleetgraph.stack.home={tmp_path}" in command


def test_the_command_reports_a_bad_heap_by_its_variable() -> None:
    done = subprocess.run([sys.executable, "-m", "fleetgraph", "stack", "status"],
                          env={**os.environ, "FLEETGRAPH_KAFKA_HEAP": "2x"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2  # a bad setting: a usage error, one line
    assert done.stderr == ("error: FLEETGRAPH_KAFKA_HEAP='2x' is not a JVM heap size such as "
                           "1g or 768m\n"), done.stderr
