"""The one settings tree reads every FLEETGRAPH_* variable fleetgraph has always
read, each into one place, and refuses what it cannot use with the variable's name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetgraph.core.errors import ConfigError
from fleetgraph.settings import ENVIRONMENT, KafkaSettings, Settings, unknown_variables

SAMPLES: dict[str, tuple[str, Any]] = {
    "FLEETGRAPH_DATA_DIR": ("/srv/fg", Path("/srv/fg")),
    "FLEETGRAPH_LOG_FORMAT": ("json", "json"),
    "FLEETGRAPH_STORE": ("cassandra", "cassandra"),
    "FLEETGRAPH_SQLITE_FILE": ("/srv/g.sqlite", Path("/srv/g.sqlite")),
    "FLEETGRAPH_CASSANDRA_HOSTS": ("127.0.0.2,127.0.0.3", "127.0.0.2,127.0.0.3"),
    "FLEETGRAPH_CASSANDRA_PORT": ("9142", 9142),
    "FLEETGRAPH_CASSANDRA_LOCAL_DC": ("dc2", "dc2"),
    "FLEETGRAPH_KEYSPACE_PREFIX": ("x_", "x_"),
    "FLEETGRAPH_REPLICATION": ("{'class': 'NetworkTopologyStrategy', 'dc2': 3}",
                               "{'class': 'NetworkTopologyStrategy', 'dc2': 3}"),
    "FLEETGRAPH_KAFKA_BOOTSTRAP": ("127.0.0.2:9092", "127.0.0.2:9092"),
    "FLEETGRAPH_TOPIC_PREFIX": ("t.", "t."),
    "FLEETGRAPH_CONSUMER_GROUP": ("g", "g"),
    "FLEETGRAPH_DEDUP_WINDOW_S": ("0.5", 0.5),
    "FLEETGRAPH_DEDUP_MODE": ("trailing", "trailing"),
    "FLEETGRAPH_BATCH_SIZE": ("64", 64),
    "FLEETGRAPH_STORE_RETRY_MAX_BACKOFF_S": ("2.5", 2.5),
    "FLEETGRAPH_STORE_OUTAGE_DEADLINE_S": ("60", 60.0),
    "FLEETGRAPH_METRICS_PORT": ("9464", 9464),
    "FLEETGRAPH_HOST": ("0.0.0.0", "0.0.0.0"),
    "FLEETGRAPH_PORT": ("8123", 8123),
    "FLEETGRAPH_SERVE_WORKERS": ("3", 3),
    "FLEETGRAPH_MODE": ("production", "production"),
    "FLEETGRAPH_API_TOKENS": ('{"s3cret": "ops"}', {"s3cret": "ops"}),
    "FLEETGRAPH_QUERY_TIMEOUT_S": ("2", 2.0),
    "FLEETGRAPH_STACK_HOME": ("/srv/stack", Path("/srv/stack")),
    "FLEETGRAPH_KAFKA_PORT": ("9192", 9192),
    "FLEETGRAPH_KAFKA_CONTROLLER_PORT": ("9193", 9193),
    "FLEETGRAPH_CASSANDRA_STORAGE_PORT": ("7100", 7100),
    "FLEETGRAPH_CASSANDRA_JMX_PORT": ("7299", 7299),
    "FLEETGRAPH_KAFKA_HEAP": ("768m", "768m"),
    "FLEETGRAPH_CASSANDRA_HEAP": ("2g", "2g"),
    "FLEETGRAPH_JAVA_HOME": ("/usr/lib/jvm/java-17", Path("/usr/lib/jvm/java-17")),
    "FLEETGRAPH_MVN": ("/opt/maven/bin/mvn", Path("/opt/maven/bin/mvn")),
    "FLEETGRAPH_NO_DOCKER": ("1", True),
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def at(settings: Settings, path: tuple[str, ...]) -> Any:
    node: Any = settings
    for key in path:
        node = getattr(node, key)
    return node


def test_every_variable_has_a_sample() -> None:
    assert set(SAMPLES) == set(ENVIRONMENT)


@pytest.mark.parametrize("name", sorted(ENVIRONMENT))
def test_each_variable_lands_in_one_place(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    default = Settings()
    raw, expected = SAMPLES[name]
    monkeypatch.setenv(name, raw)
    settings = Settings()
    assert at(settings, ENVIRONMENT[name]) == expected
    changed = {other for other, path in ENVIRONMENT.items()
               if at(settings, path) != at(default, path)}
    assert changed == {name}


def test_one_port_for_cassandra_and_one_directory_for_data(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETGRAPH_CASSANDRA_PORT", "9142")
    monkeypatch.setenv("FLEETGRAPH_DATA_DIR", "/srv/fg")
    settings = Settings()
    assert settings.stack.cassandra_port == settings.store.cassandra.port == 9142
    assert settings.sqlite_path == Path("/srv/fg/graph.sqlite")
    assert settings.updated(data_dir=Path("/d")).sqlite_path == Path("/d/graph.sqlite")


def test_arguments_override_the_environment_section_by_section(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETGRAPH_TOPIC_PREFIX", "env.")
    monkeypatch.setenv("FLEETGRAPH_CONSUMER_GROUP", "env-group")
    updated = Settings().updated(kafka={"topic_prefix": "arg."})
    assert (updated.kafka.topic_prefix, updated.kafka.consumer_group) == ("arg.", "env-group")
    assert Settings(kafka=KafkaSettings(bootstrap="h:1")).kafka.bootstrap == "h:1"


def test_bad_values_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETGRAPH_PORT", "abc")
    with pytest.raises(ValueError, match=r"server\.port"):
        Settings()
    monkeypatch.delenv("FLEETGRAPH_PORT")
    monkeypatch.setenv("FLEETGRAPH_API_TOKENS", "{not json")
    with pytest.raises(ConfigError, match="FLEETGRAPH_API_TOKENS is not JSON"):
        Settings()
    monkeypatch.delenv("FLEETGRAPH_API_TOKENS")
    monkeypatch.setenv("FLEETGRAPH_KAFKA_HEAP", "lots")
    with pytest.raises(ValueError, match="not a JVM heap size"):
        Settings()
    monkeypatch.delenv("FLEETGRAPH_KAFKA_HEAP")
    with pytest.raises(ValueError, match=r"kafka\.nope"):
        Settings().updated(kafka={"nope": 1})


def test_a_misspelled_variable_is_named_with_the_closest_setting() -> None:
    environ = {"FLEETGRAPH_DEDUP_WINDOW": "2", "FLEETGRAPH_ZZZ": "1", "FLEETGRAPH_PORT": "1",
               "FLEETGRAPH_REQUIRE_STACK": "1", "HOME": "/root"}
    assert unknown_variables(environ) == [
        "FLEETGRAPH_DEDUP_WINDOW is not a fleetgraph setting, and is ignored; "
        "did you mean FLEETGRAPH_DEDUP_WINDOW_S?",
        "FLEETGRAPH_ZZZ is not a fleetgraph setting, and is ignored",
    ]


def test_the_cli_warns_of_them_and_says_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from fleetgraph.cli.main import cli
    from fleetgraph.core.version import __version__

    monkeypatch.setenv("FLEETGRAPH_TOPIC_PREFX", "x.")
    result = CliRunner().invoke(cli, ["storage", "--help"])
    assert result.exit_code == 0
    assert ("warning: FLEETGRAPH_TOPIC_PREFX is not a fleetgraph setting, and is ignored; "
            "did you mean FLEETGRAPH_TOPIC_PREFIX?") in result.output
    version = CliRunner().invoke(cli, ["--version"])
    assert version.output == f"fleetgraph, version {__version__}\n"
