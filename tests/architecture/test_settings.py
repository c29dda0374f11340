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
    "FLEETGRAPH_ENV_FILE": ("/dev/null", Path("/dev/null")),  # must exist: an empty file
    "FLEETGRAPH_LOG_FORMAT": ("json", "json"),
    "FLEETGRAPH_STORE": ("cassandra", "cassandra"),
    "FLEETGRAPH_SQLITE_FILE": ("/srv/g.sqlite", Path("/srv/g.sqlite")),
    "FLEETGRAPH_SQLITE_CACHE_MIB": ("1024", 1024),
    "FLEETGRAPH_CASSANDRA_HOSTS": ("127.0.0.2,127.0.0.3", "127.0.0.2,127.0.0.3"),
    "FLEETGRAPH_CASSANDRA_PORT": ("9142", 9142),
    "FLEETGRAPH_CASSANDRA_LOCAL_DC": ("dc2", "dc2"),
    "FLEETGRAPH_KEYSPACE_PREFIX": ("x_", "x_"),
    "FLEETGRAPH_REPLICATION": ("{'class': 'NetworkTopologyStrategy', 'dc2': 3}",
                               "{'class': 'NetworkTopologyStrategy', 'dc2': 3}"),
    "FLEETGRAPH_CASSANDRA_READ_CONSISTENCY": ("quorum", "QUORUM"),
    "FLEETGRAPH_CASSANDRA_WRITE_CONSISTENCY": ("QUORUM", "QUORUM"),
    "FLEETGRAPH_TOPIC_REPLICATION_FACTOR": ("3", 3),
    "FLEETGRAPH_TOPIC_MIN_INSYNC_REPLICAS": ("2", 2),
    "FLEETGRAPH_KAFKA_BOOTSTRAP": ("127.0.0.2:9092", "127.0.0.2:9092"),
    "FLEETGRAPH_TOPIC_PREFIX": ("t.", "t."),
    "FLEETGRAPH_CONSUMER_GROUP": ("g", "g"),
    "FLEETGRAPH_DEDUP_WINDOW_S": ("0.5", 0.5),
    "FLEETGRAPH_DEDUP_MODE": ("trailing", "trailing"),
    "FLEETGRAPH_DEDUP_MAX_HOLD_S": ("1.5", 1.5),
    "FLEETGRAPH_BATCH_SIZE": ("64", 64),
    "FLEETGRAPH_SINK_WRITE_UPSERTS": ("250", 250),
    "FLEETGRAPH_MALLOC_TRIM_S": ("0", 0.0),
    "FLEETGRAPH_STORE_RETRY_MAX_BACKOFF_S": ("2.5", 2.5),
    "FLEETGRAPH_STORE_OUTAGE_DEADLINE_S": ("60", 60.0),
    "FLEETGRAPH_METRICS_PORT": ("9464", 9464),
    "FLEETGRAPH_HOST": ("0.0.0.0", "0.0.0.0"),
    "FLEETGRAPH_PORT": ("8123", 8123),
    "FLEETGRAPH_SERVE_WORKERS": ("3", 3),
    "FLEETGRAPH_MODE": ("production", "production"),
    "FLEETGRAPH_API_TOKENS": ('{"s3cret": "ops"}', {"s3cret": "ops"}),
    "FLEETGRAPH_QUERY_TIMEOUT_S": ("2", 2.0),
    "FLEETGRAPH_ACCESS_LOG": ("false", False),
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
    "FLEETGRAPH_CLIENT_TOKEN": ("c-t0ken", "c-t0ken"),
    "FLEETGRAPH_API_TOKEN": ("old-t0ken", "old-t0ken"),  # the client token's old name
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's


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
    changed = {path for path in ENVIRONMENT.values()
               if at(settings, path) != at(default, path)}
    assert changed == {ENVIRONMENT[name]}


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


# --- bad values: one line naming the variable, exit code 2, in every command -----------

def _annotation(path: tuple[str, ...]) -> Any:
    model: Any = Settings
    for key in path[:-1]:
        model = model.model_fields[key].annotation
    return model.model_fields[path[-1]].annotation


FREE_TEXT = (str, str | None, Path, Path | None)  # any value is one
TYPED = sorted(name for name, path in ENVIRONMENT.items()
               if _annotation(path) not in FREE_TEXT or name in (
                   "FLEETGRAPH_KAFKA_HEAP", "FLEETGRAPH_CASSANDRA_HEAP", "FLEETGRAPH_ENV_FILE"))


def test_the_typed_variables_are_found() -> None:
    assert {"FLEETGRAPH_PORT", "FLEETGRAPH_API_TOKENS", "FLEETGRAPH_STORE",
            "FLEETGRAPH_NO_DOCKER", "FLEETGRAPH_DEDUP_WINDOW_S"} <= set(TYPED)
    assert "FLEETGRAPH_HOST" not in TYPED


@pytest.mark.parametrize("name", TYPED)
def test_garbage_in_a_typed_variable_is_one_line_and_exit_2(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    from click.testing import CliRunner

    from fleetgraph.cli.main import cli

    monkeypatch.setenv(name, "garbage!")
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}"), result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("FLEETGRAPH_PORT", "abc", "error: FLEETGRAPH_PORT='abc': expected a whole number"),
    ("FLEETGRAPH_PORT", "70000", "error: FLEETGRAPH_PORT='70000': expected less than or "
                                 "equal to 65535"),
    ("FLEETGRAPH_STORE", "mongo", "error: FLEETGRAPH_STORE='mongo': expected 'embedded' or "
                                  "'cassandra'"),
    ("FLEETGRAPH_API_TOKENS", '{"s3cret": "admin"}',
     "error: FLEETGRAPH_API_TOKENS (value not shown): unknown role 'admin': a JSON object "
     "of token to role, the roles ops, scheduler, auditor"),
    ("FLEETGRAPH_API_TOKENS", "{s3cret",
     "error: FLEETGRAPH_API_TOKENS is not JSON (Expecting property name enclosed in double "
     'quotes at character 1); expected a JSON object, e.g. {"s3cret": "ops"}'),
])
def test_a_command_run_with_a_bad_value_says_what_is_expected(
        tmp_path: Path, name: str, value: str, expected: str) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGRAPH_")}
    command = [sys.executable, "-m", "fleetgraph", "serve"]
    done = subprocess.run(command, env={**env, name: value}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr, done.stdout) == (2, expected + "\n", "")
    assert "s3cret" not in done.stderr.replace('e.g. {"s3cret": "ops"}', "")


def test_the_api_roles_are_the_servers() -> None:
    from fleetgraph.serving.access import ROLES
    from fleetgraph.settings import API_ROLES

    assert API_ROLES == ROLES


# --- .env ------------------------------------------------------------------------------

def test_a_dotenv_file_gives_values_and_the_environment_wins(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# the local setup\nFLEETGRAPH_PORT=8123\n"
                                   "FLEETGRAPH_TOPIC_PREFIX='t.'\nOTHER_TOOL=1\n")
    assert Settings.from_environ().server.port == 8123
    assert Settings().kafka.topic_prefix == "t."
    monkeypatch.setenv("FLEETGRAPH_PORT", "9000")
    assert Settings.from_environ().server.port == 9000  # the real environment wins


def test_fleetgraph_env_file_points_elsewhere(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FLEETGRAPH_PORT=8123\n")
    other = tmp_path / "prod.env"
    other.write_text("FLEETGRAPH_PORT=8200\n")
    monkeypatch.setenv("FLEETGRAPH_ENV_FILE", str(other))
    settings = Settings.from_environ()
    assert (settings.server.port, settings.env_file) == (8200, other)
    monkeypatch.setenv("FLEETGRAPH_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(ConfigError, match=r"FLEETGRAPH_ENV_FILE=.*missing\.env.*no such file"):
        Settings.from_environ()


def test_a_bad_value_in_the_dotenv_file_is_named_and_its_unknown_keys_warned(
        tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fleetgraph.cli.main import cli

    (tmp_path / ".env").write_text("FLEETGRAPH_TOPIC_PREFX=x.\n")
    result = CliRunner().invoke(cli, ["storage", "--help"])
    assert result.exit_code == 0
    assert ("warning: FLEETGRAPH_TOPIC_PREFX (in .env) is not a fleetgraph setting, and is "
            "ignored; did you mean FLEETGRAPH_TOPIC_PREFIX?") in result.stderr
    (tmp_path / ".env").write_text("FLEETGRAPH_PORT=eighty\n")
    result = CliRunner().invoke(cli, ["storage", "--help"])
    assert (result.exit_code, result.stderr) == (
        2, "error: FLEETGRAPH_PORT='eighty': expected a whole number\n")


# --- the client's token ------------------------------------------------------------------

def test_the_client_token_has_one_name_and_the_old_one_is_deprecated(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from fleetgraph.cli.main import cli
    from fleetgraph.settings import deprecated_variables

    monkeypatch.setenv("FLEETGRAPH_API_TOKEN", "old")
    assert Settings.from_environ().client.token == "old"
    result = CliRunner().invoke(cli, ["storage", "--help"])
    assert result.exit_code == 0
    assert result.stderr == ("warning: FLEETGRAPH_API_TOKEN is deprecated: use "
                             "FLEETGRAPH_CLIENT_TOKEN\n")
    monkeypatch.setenv("FLEETGRAPH_CLIENT_TOKEN", "new")
    assert Settings.from_environ().client.token == "new"  # the new name wins
    assert deprecated_variables() == [
        "FLEETGRAPH_API_TOKEN is deprecated: use FLEETGRAPH_CLIENT_TOKEN "
        "(FLEETGRAPH_CLIENT_TOKEN is set and wins)"]
