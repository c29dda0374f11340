"""The commands a new user runs, end to end on a small fleet."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fleetgraph.cli.main import cli
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import read_dead_letters
from fleetgraph.storage.embedded import SQLiteGraphStore


def test_simulate_then_ingest_stores_the_fleet_and_dead_letters_bad_input(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    simulated = runner.invoke(cli, [*data, "simulate", "--sites", "3", "--hours", "2",
                                    "--malformed-rate", "0.02"])
    assert simulated.exit_code == 0, simulated.output
    assert (tmp_path / "events.avro").stat().st_size > 0

    ingested = runner.invoke(cli, [*data, "ingest", "--fresh"])
    assert ingested.exit_code == 0, ingested.output
    assert "dead-lettered" in ingested.output
    letters = read_dead_letters(tmp_path / "dead-letters.jsonl")
    assert letters and all(r["reason"] and r["payload_b64"] for r in letters)

    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    assert len(store.scan_nodes("site", None, 10).records) == 3
    assert store.count("edge_cooled_by") > 0

    described = runner.invoke(cli, [*data, "storage", "describe"])
    assert described.exit_code == 0, described.output
    counts = {line.split()[0]: int(line.split()[1].replace(",", ""))
              for line in described.output.splitlines() if line.endswith(" rows")}
    assert set(counts) == {f"node_{t}" for t in FLEET.nodes} | {f"edge_{t}" for t in FLEET.edges}
    assert counts["node_site"] == 3
    assert counts["edge_cooled_by"] == store.count("edge_cooled_by")


def test_demo_without_serving_prints_queries_with_answers(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "demo", "--no-serve",
                                      "--sites", "6", "--hours", "12"])
    assert result.exit_code == 0, result.output
    examples = (tmp_path / "examples.md").read_text()  # the answers go to a file
    assert "modelHotness" in examples
    assert '"errors"' not in examples


def test_serve_refuses_a_missing_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve"])
    assert result.exit_code != 0
    assert "no store" in result.output


def test_a_fresh_ingest_starts_a_new_dead_letter_file_and_archives_the_old(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    simulated = runner.invoke(cli, [*data, "simulate", "--sites", "2", "--hours", "1",
                                    "--malformed-rate", "0.05"])
    assert simulated.exit_code == 0, simulated.output
    first = runner.invoke(cli, [*data, "ingest", "--fresh"])
    assert first.exit_code == 0, first.output
    letters = read_dead_letters(tmp_path / "dead-letters.jsonl")
    assert letters

    second = runner.invoke(cli, [*data, "ingest", "--fresh"])
    assert second.exit_code == 0, second.output
    assert len(read_dead_letters(tmp_path / "dead-letters.jsonl")) == len(letters)
    [archived] = tmp_path.glob("dead-letters.*Z.jsonl")
    assert read_dead_letters(archived) == letters

    appended = runner.invoke(cli, [*data, "ingest", "--append"])
    assert appended.exit_code == 0, appended.output
    assert len(read_dead_letters(tmp_path / "dead-letters.jsonl")) == 2 * len(letters)
