"""docs/your-data.md, run as written: every ``sh`` block in order, in bash, in a copy of
the examples (the converters, ``fleetgraph ingest``, ``fleetgraph deadletters list``),
with the Python blocks that use fleetgraph (writing an Avro log) where they stand;
the outputs it shows are the outputs printed (times aside); each ``graphql`` block is
executed through the GraphQL schema in process on the store it made and answers the
``json`` block after it. And the answers are those computed here, independently, from
the input files (racks.csv, sacct.txt, faults.jsonl): which servers a CDU cools, which
jobs ran there, and the overlap of each with the fault.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.context import new_context
from fleetgraph.serving.schema import build_schema
from fleetgraph.storage.embedded import SQLiteGraphStore

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "your-data.md"
EXAMPLES = ROOT / "docs" / "examples"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
TIMING = re.compile(r" in [\d.]+ s \([\d,]+ events/s\)")


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(DOC.read_text())]


@pytest.fixture(scope="module")
def worked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The doc's sh blocks run in a fresh directory holding docs/examples; the output."""
    where = tmp_path_factory.mktemp("your-data")
    shutil.copytree(EXAMPLES, where / "docs" / "examples",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = "set -euo pipefail\n" + "".join(
        text if lang == "sh" else f"python - <<'PYTHON'\n{text}PYTHON\n"
        for lang, text in blocks() if lang == "sh" or (
            lang == "python" and text.startswith("from fleetgraph")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGRAPH_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-c", script], cwd=where, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return where, done.stdout


def test_the_outputs_shown_are_the_outputs_printed(worked: tuple[Path, str]) -> None:
    _, stdout = worked
    printed = {TIMING.sub("", line) for line in stdout.splitlines()}
    shown = [TIMING.sub("", line) for lang, text in blocks() if lang == "text"
             for line in text.splitlines()
             if line.startswith(("ingested ", "warning: ", "4 dead letters", "     0 "))]
    assert len(shown) == 4
    for line in shown:
        assert line in printed, (line, stdout)


def execute(store: SQLiteGraphStore, document: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        result = await build_schema().execute(document, context_value=new_context(store))
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    return asyncio.run(run())


def answers(worked: tuple[Path, str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(answer, the doc's json block after the query) for each graphql block."""
    where, _ = worked
    store = SQLiteGraphStore(FLEET, where / ".fleetgraph" / "graph.sqlite")
    found = blocks()
    out = []
    try:
        for i, (lang, text) in enumerate(found):
            if lang == "graphql":
                after = found[i + 1]
                assert after[0] == "json", f"no json answer after the query {text}"
                out.append((execute(store, text), json.loads(after[1])))
    finally:
        store.close()
    return out


def test_the_queries_answer_what_the_doc_shows(worked: tuple[Path, str]) -> None:
    pairs = answers(worked)
    assert len(pairs) == 2
    for answer, shown in pairs:
        assert answer == shown


# --- the same answers, computed from the input files -----------------------------------
def micros(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def iso(us: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).isoformat()


def hosts_of(node_list: str) -> list[str]:
    out = []
    for prefix, ranges, single in re.findall(r"([\w-]+?)\[([\d,-]+)\]|([\w-]+)", node_list):
        if single:
            out.append(single)
            continue
        for span in ranges.split(","):
            low, _, high = span.partition("-")
            out += [f"{prefix}{n:0{len(low)}d}" for n in range(int(low), int(high or low) + 1)]
    return out


def expected_affected_jobs() -> set[tuple[str, str, str, str | None]]:
    with (EXAMPLES / "racks.csv").open() as f:
        racks = list(csv.DictReader(f))
    faults = [json.loads(line) for line in (EXAMPLES / "faults.jsonl").read_text().splitlines()]
    (cdu,) = {fault["component_id"] for fault in faults}
    opened = min(f["event_time"] for f in faults if f["status"] == "fault")
    cleared = max(f["event_time"] for f in faults if f["status"] == "ok")
    site, name = cdu.removeprefix("cdu:").split("-", 1)
    cooled = {(r["site"], f"{r['rack']}-n{n:02d}"): r["rack"] for r in racks
              if r["site"] == site and name in r["cdu"].split(";")
              for n in range(1, int(r["servers"]) + 1)}
    with (EXAMPLES / "sacct.txt").open() as f:
        jobs = [row for row in csv.DictReader(f, delimiter="|") if "." not in row["JobID"]]
    rack_site = {r["rack"]: r["site"] for r in racks}
    rows = set()
    for job in jobs:
        if job["Start"] == "Unknown":
            continue
        start = micros(job["Start"])
        end = None if job["End"] == "Unknown" else micros(job["End"])
        for host in hosts_of(job["NodeList"]):
            key = (rack_site[host.split("-")[0]], host)
            if key not in cooled:
                continue
            low, high = max(start, opened), cleared if end is None else min(end, cleared)
            if low < high:
                rows.add((f"job:slurm-{job['JobID']}", f"server:{key[0]}-{host}", iso(low),
                          iso(high)))
    return rows


def test_affected_jobs_are_those_the_input_files_say(worked: tuple[Path, str]) -> None:
    (answer, _), _ = answers(worked)
    got = {(item["jobId"], item["serverId"], item["overlapFrom"], item["overlapTo"])
           for item in answer["affectedJobs"]["items"]}
    expected = expected_affected_jobs()
    assert len(expected) >= 3
    assert got == expected


def test_the_servers_neighbours_are_the_jobs_sacct_placed_there(
        worked: tuple[Path, str]) -> None:
    _, (answer, _) = answers(worked)
    with (EXAMPLES / "sacct.txt").open() as f:
        ran = {f"job:slurm-{row['JobID']}" for row in csv.DictReader(f, delimiter="|")
               if "." not in row["JobID"] and "a02-n02" in hosts_of(row["NodeList"])}
    assert {e["fromId"] for e in answer["node"]["neighbours"]} == ran


def test_the_inventory_is_stored_whole_but_the_unknown_column(
        worked: tuple[Path, str]) -> None:
    where, _ = worked
    with (EXAMPLES / "racks.csv").open() as f:
        racks = list(csv.DictReader(f))
    store = SQLiteGraphStore(FLEET, where / ".fleetgraph" / "graph.sqlite")
    try:
        assert store.count("node_rack") == len(racks)
        assert store.count("node_server") == sum(int(r["servers"]) for r in racks)
        assert store.count("node_gpu") == sum(int(r["servers"]) * int(r["gpus_per_server"])
                                              for r in racks)
        assert store.count("edge_cooled_by") == sum(len(r["cdu"].split(";")) for r in racks)
        assert store.get_nodes(["site:ams2"])["site:ams2"].props["name"] == "ams2"  # Python
        ids = [f"rack:{r['site']}-{r['rack']}" for r in racks]
        for rack in store.get_nodes(ids).values():
            assert "asset_tag" not in rack.props and rack.props["gpu_generation"]
    finally:
        store.close()
    letters = [json.loads(line) for line in
               (where / ".fleetgraph" / "dead-letters.jsonl").read_text().splitlines()]
    assert [letter["reason"] for letter in letters] == ["unknown_attribute"] * len(racks)
