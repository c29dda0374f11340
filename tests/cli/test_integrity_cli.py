"""``fleetgraph integrity`` on an embedded store with a phantom CDU and a job that ended
before it started (issue 8 item 9)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fleetgraph.cli.main import cli
from tests.e2e import integrity_fleet as fleet
from tests.e2e.fleet_run import ingest_into, open_store


def _store_with_oddities(tmp_path: Path) -> Path:
    path = tmp_path / "graph.sqlite"
    with open_store(path) as store:
        ingest_into(store, fleet.messages(fleet.BASE + fleet.PHANTOM_LINK + fleet.BACKWARDS_JOB))
    return path


def test_the_command_lists_each_finding_with_its_events(tmp_path: Path) -> None:
    db = _store_with_oddities(tmp_path)
    result = CliRunner().invoke(cli, ["integrity", "--db", str(db)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "ENDED_BEFORE_STARTED     job:j2" in out
    assert "MISSING_NODE             cdu:s1-c9" in out
    assert "event link-c9 at file:10: latest write of cooled_by rack:s1-r1 -> cdu:s1-c9" in out
    assert "event job-j2-end: first write of" in out
    assert out.splitlines()[-1].startswith(
        "2 findings (ENDED_BEFORE_STARTED 1, MISSING_NODE 1) in ")


def test_json_lines_and_a_kind_filter(tmp_path: Path) -> None:
    db = _store_with_oddities(tmp_path)
    result = CliRunner().invoke(cli, ["integrity", "--db", str(db), "--json",
                                      "--kind", "MISSING_NODE"])
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    finding = json.loads(line)
    assert (finding["kind"], finding["category"], finding["subject_id"]) == (
        "MISSING_NODE", "REFERENCE", fleet.PHANTOM)
    assert finding["events"] == [{"event_id": "link-c9", "event_time": fleet.T0 + 6,
                                  "source": "file:10", "wrote": finding["events"][0]["wrote"]}]


def test_a_missing_store_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["integrity", "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code != 0
    assert "no store at" in result.output
