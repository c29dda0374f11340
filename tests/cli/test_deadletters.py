"""``fleetgraph deadletters list|show|replay`` on the embedded file.

The story: some good job events were refused by a bug (as CPU-only jobs were)
beside truly malformed messages. After the fix, replaying the bug's letters
stores exactly what ingesting them the first time would have (the whole log's
store, row for row); the malformed ones stay dead; a second replay, or
replaying an archived copy, changes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from fleetgraph.cli.main import cli
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import dead_letter_record
from fleetgraph.ingest.deadletter_tools import read_letters
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.sources.eventlog import write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.embedded import SQLiteGraphStore

BUG = "cpu_only_job"  # the reason a since fixed check gave good CPU-only jobs
Rows = list[tuple[str, tuple[object, ...]]]


def run(tmp: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp), *args])
    assert result.exit_code == 0, result.output
    return result


def rows(db: Path, sources: dict[str, str]) -> Rows:
    store = SQLiteGraphStore(FLEET, db)
    at = {t.name: t.all_columns.index("_source") for t in store.tables}
    out = []
    for table, row in store.dump():
        i = at[table]
        out.append((table, (*row[:i], sources.get(str(row[i]), row[i]), *row[i + 1:])))
    store.close()
    return out


def test_replay_after_a_fix_stores_the_letters_once_and_keeps_the_malformed(
    tmp_path: Path,
) -> None:
    codec = load_event_codec()
    config = SimulationConfig(seed=5, sites=3, hours=1, malformed_rate=0.02)
    simulated = list(simulate_messages(config, codec))
    fleet = [(str(t), p) for t, p, _ in simulated]
    jobs = [i for i, (t, _, defect) in enumerate(simulated) if t.value == "jobs" and not defect]
    wrongly_refused = set(jobs[::5])
    kept = [i for i in range(len(fleet)) if i not in wrongly_refused]
    write_event_log(tmp_path / "whole.avro", fleet)
    write_event_log(tmp_path / "part.avro", (fleet[i] for i in kept))
    sources = {f"part.avro:{j}": f"whole.avro:{i}" for j, i in enumerate(kept)}

    run(tmp_path, "ingest", str(tmp_path / "whole.avro"), "--db", str(tmp_path / "one.sqlite"),
        "--fresh")
    db = tmp_path / "graph.sqlite"
    run(tmp_path, "ingest", str(tmp_path / "part.avro"), "--fresh")
    letters_path = tmp_path / "dead-letters.jsonl"
    malformed = len(read_letters(letters_path))
    assert malformed > 0
    with letters_path.open("a") as f:
        for i in sorted(wrongly_refused):
            bug = RejectedEvent(BUG, "gpus_requested 0 is below 1")
            message = Message(fleet[i][0], fleet[i][1], f"whole.avro:{i}")
            f.write(json.dumps(dead_letter_record(message, bug)) + "\n")
    archived_copy = tmp_path / "copy.jsonl"
    shutil.copy(letters_path, archived_copy)
    assert rows(db, sources) != rows(tmp_path / "one.sqlite", {})

    listed = run(tmp_path, "deadletters", "list").output.splitlines()
    total = malformed + len(wrongly_refused)
    assert listed[0].startswith(f"{total} dead letters in {letters_path}")
    assert f"{BUG} {len(wrongly_refused)}" in listed[0]
    assert len(listed) == 1 + total
    index, reason, topic, source = listed[-1].split()[:4]
    assert (reason, topic, source) == (BUG, "jobs", f"whole.avro:{max(wrongly_refused)}")

    shown = json.loads(run(tmp_path, "deadletters", "show", index).output)
    assert shown["reason"] == BUG
    assert shown["payload"]["decodes"] is True
    assert shown["payload"]["event"]["job_id"].startswith("job:")
    undecodable = next(line.split()[0] for line in listed[1:] if " undecodable " in line)
    bad = json.loads(run(tmp_path, "deadletters", "show", undecodable).output)
    assert bad["payload"]["decodes"] is False and bad["payload"]["error"]

    replayed = run(tmp_path, "deadletters", "replay", "--reason", BUG).output
    n = len(wrongly_refused)
    assert f"replayed {n} dead letters: {n} stored" in replayed
    after = rows(db, sources)
    assert after == rows(tmp_path / "one.sqlite", {})
    remaining = read_letters(letters_path)
    assert len(remaining) == malformed and BUG not in {r["reason"] for r in remaining}
    assert len(read_letters(tmp_path / "dead-letters.replayed.jsonl")) == len(wrongly_refused)

    again = run(tmp_path, "deadletters", "replay").output
    assert f"replayed {malformed} dead letters: 0 stored" in again
    assert rows(db, sources) == after
    remaining = read_letters(letters_path)
    assert len(remaining) == malformed and {r["replays"] for r in remaining} == {1}
    assert len(read_letters(tmp_path / "dead-letters.replayed.jsonl")) == len(wrongly_refused)

    run(tmp_path, "deadletters", "replay", "--file", str(archived_copy))
    assert rows(db, sources) == after


def test_show_names_the_letters_there_are(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "deadletters", "show", "3"])
    assert result.exit_code != 0
    assert "holds none" in str(result.exception) or "holds none" in result.output
