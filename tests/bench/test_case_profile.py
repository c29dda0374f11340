"""``python -m fleetgraph.bench.case_profile`` on a tiny kept fleet: each case asked is
called the number of times asked, with its CPU, latencies, rows and slowest calls; the
variables kept by ``--only``; an unknown case refused with the list of cases."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fleetgraph.bench import case_profile, fleet_scale
from fleetgraph.simulator import SimulationConfig

END_US = 1_796_258_700_000_000


def test_cases_of_a_kept_fleet_are_profiled_call_by_call(tmp_path: Path) -> None:
    config = SimulationConfig(seed=17, sites=3, hours=4.0, end_time_us=END_US,
                              jobs_per_site_per_hour=3.0, telemetry_interval_s=900)
    fleet_scale.run(config, tmp_path, repeats=1, budget_s=0.1)
    runner = CliRunner()
    done = runner.invoke(case_profile.main, ["--work", str(tmp_path), "--case", "lineage",
                                             "--case", "affectedJobs", "--repeats", "7"])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in done.output.splitlines() if line.startswith("{")]
    assert [r["case"] for r in lines] == ["lineage", "affectedJobs"]
    for result in lines:
        assert result["calls"] == 7 and len(result["slowest"]) == 3
        assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
        assert result["cpu_ms"] > 0 and result["rows_read"] > 0
    assert json.loads((tmp_path / "fleet.json").read_text())["now_us"] == END_US
    first = lines[0]["slowest"][0]["variables"]["id"]
    only = runner.invoke(case_profile.main, ["--work", str(tmp_path), "--case", "lineage",
                                             "--only", first, "--repeats", "3"])
    assert only.exit_code == 0, only.output
    [result] = [json.loads(line) for line in only.output.splitlines() if line.startswith("{")]
    assert {s["variables"]["id"] for s in result["slowest"]} == {first}
    refused = runner.invoke(case_profile.main, ["--work", str(tmp_path), "--case", "nope"])
    assert refused.exit_code != 0 and "dataResidency" in refused.output
