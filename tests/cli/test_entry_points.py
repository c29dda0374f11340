"""Every entry point is a command of the one CLI: ``fleetgraph worker``, the ``bench``
subcommands, ``python -m fleetgraph``; the group's --data-dir reaches the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fleetgraph.cli import worker as worker_command
from fleetgraph.cli.main import cli
from fleetgraph.settings import Settings


def test_data_dir_moves_the_embedded_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "storage", "describe"])
    assert result.exit_code != 0
    assert f"no store at {tmp_path / 'graph.sqlite'}" in result.output


def test_worker_options_map_onto_the_settings(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetgraph.ingest.kafka import worker as library

    seen: dict[str, Any] = {}

    def run_worker(settings: Settings, store_factory: Any, **options: Any) -> str:
        seen.update(settings=settings, store_factory=store_factory, **options)
        return "WorkerReport(role='all')"

    monkeypatch.setattr(library, "run_worker", run_worker)
    result = CliRunner().invoke(cli, [
        "worker", "--role", "sink", "--store", "cassandra", "--partitions", "2",
        "--web-port", "6066", "--loglevel", "warning", "--exit-when-idle", "3",
        "--bootstrap", "127.0.0.1:9192", "--topic-prefix", "t.", "--group", "g",
        "--dedup-window", "0.5", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "WorkerReport(role='all')"
    settings: Settings = seen["settings"]
    assert (settings.kafka.bootstrap, settings.kafka.topic_prefix,
            settings.kafka.consumer_group) == ("127.0.0.1:9192", "t.", "g")
    assert settings.ingest.dedup_window_s == 0.5
    assert settings.store.kind == "cassandra"
    assert settings.data_dir == tmp_path and settings.sqlite_path == tmp_path / "graph.sqlite"
    assert (seen["role"], seen["partitions"], seen["web_port"], seen["loglevel"],
            seen["exit_when_idle_s"]) == ("sink", 2, 6066, "warning", 3.0)


def test_worker_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetgraph.ingest.kafka import worker as library
    from fleetgraph.ingest.kafka.app import ROLES
    from fleetgraph.ingest.kafka.topics import DEFAULT_PARTITIONS

    assert worker_command.ROLES == ROLES
    assert worker_command.PARTITIONS == DEFAULT_PARTITIONS
    seen: dict[str, Any] = {}
    monkeypatch.setattr(library, "run_worker",
                        lambda settings, factory, **options: seen.update(options) or "ok")
    result = CliRunner().invoke(cli, ["worker"])
    assert result.exit_code == 0, result.output
    assert seen == {"role": "all", "partitions": DEFAULT_PARTITIONS, "web_port": None,
                    "loglevel": "info", "exit_when_idle_s": None}


def test_bench_subcommands() -> None:
    shown = CliRunner().invoke(cli, ["bench", "--help"])
    assert shown.exit_code == 0, shown.output
    for name in ("load", "kafka", "hotpath", "steady-memory", "report", "guard-cost"):
        assert f"  {name} " in shown.output, name


def test_bench_report(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    results.write_text(json.dumps({
        "machine": {"cpus": 2, "cpu": "x", "memory_gib": 4, "python": "3", "platform": "p",
                    "load_average": 0.1, "load_average_end": 0.2},
        "sizes": {}, "targets": [{"target": "t", "value": 1, "met": True}]}))
    result = CliRunner().invoke(cli, ["bench", "report", str(results)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Machine: 2 CPUs (x)")
    assert "| t | 1 | met |" in result.output


def test_bench_guard_cost() -> None:
    result = CliRunner().invoke(cli, ["bench", "guard-cost"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "cycle", "DAG 11 levels", "DAG 22 levels", "DAG 44 levels"]
    assert all("ms CPU per check, refused with" in line for line in lines)


def test_python_m_fleetgraph_is_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "fleetgraph", "worker", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "--dedup-window" in done.stdout and "--topic-prefix" in done.stdout
