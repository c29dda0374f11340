"""A bounded load test on loopback: `fleetgraph bench load` against a real server.

8 clients for 10 s over a 12-site fleet; the test asserts no errors and that
requests were made, and prints the latencies (timing targets are never
asserted in tests).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fleetgraph.bench import load
from fleetgraph.cli.main import cli
from tests.drills.live_server import LiveServer, build_fleet, live_server

KINDS = {"affectedJobs", "modelHotness", "blastRadius", "placement", "lineage",
         "dataResidency", "traverse", "node"}


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("load")
    build_fleet(data_dir, 12, 12.0)
    return data_dir


@pytest.fixture(scope="module")
def server(fleet_dir: Path) -> Iterator[LiveServer]:
    with live_server(fleet_dir) as running:
        yield running


def test_eight_clients_for_ten_seconds_without_errors(
    server: LiveServer, fleet_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "load.json"
    result = CliRunner().invoke(cli, [
        "--data-dir", str(fleet_dir), "bench", "load", "--url", server.url,
        "--clients", "8", "--seconds", "10", "--token", "ops-token", "--out", str(out)])
    assert result.exit_code == 0, result.output
    print("\n" + result.output)
    report = json.loads(out.read_text())
    assert report["errors"] == 0, report["error_examples"]
    assert report["requests"] > 0
    assert set(report["queries"]) == KINDS
    assert all(q["runs"] > 0 and q["errors"] == 0 for q in report["queries"].values())
    print(f"p99 {report['overall']['p99_ms']} ms over {report['requests']} requests "
          f"({report['requests_per_s']} requests/s)")
    server.assert_alive()


def test_errors_are_counted(server: LiveServer) -> None:
    mix = [load.LoadQuery("bad id", "query($id: ID!) { node(id: $id) { id } }",
                          [{"id": "not an id"}]),
           load.LoadQuery("forbidden", '{ affectedJobs(componentId: "cdu:s0001-c1") '
                          "{ truncated } }", [{}])]
    report = asyncio.run(load.run_load(server.url, mix, clients=2, seconds=1.0,
                                       token="sched-token", max_requests=40))
    assert 0 < report.requests <= 40
    assert report.errors["bad id"] == len(report.samples_ms["bad id"])
    assert report.errors["forbidden"] == len(report.samples_ms["forbidden"])
    assert any("HTTP 403" in e for e in report.error_examples)
    assert any("is not a fleetgraph id" in e for e in report.error_examples)


def test_a_refused_token_stops_the_load_before_it_starts(
    server: LiveServer, fleet_dir: Path
) -> None:
    result = CliRunner().invoke(cli, [
        "--data-dir", str(fleet_dir), "bench", "load", "--url", server.url,
        "--seconds", "1", "--token", "guessed"])
    assert result.exit_code != 0
    assert isinstance(result.exception, load.LoadError)
    assert "HTTP 401" in str(result.exception)


def test_bench_without_a_subcommand_still_runs_the_benchmark(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import fleetgraph.bench.run as bench_run

    calls: list[tuple[Any, Path]] = []

    def fake_run(profile: Any, path: Path) -> dict[str, Any]:
        calls.append((profile, path))
        return {}

    monkeypatch.setattr(bench_run, "run", fake_run)
    monkeypatch.setattr(bench_run, "table", lambda results: "TABLE")
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert calls == [("quick", out)]
    assert "TABLE" in result.output
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "bench", "load"])
    assert result.exit_code != 0  # no store there: the load test, not the benchmark
    assert "no store at" in result.output
    assert calls == [("quick", out)]
