"""``ingest --append`` of a log cut in two by event time stores what one log stores.

The topology (the enrichment side input) of the first log is kept in the store,
so the second log's jobs get their site, region and jurisdiction and its faults
their affected racks. Rows are compared column by column; ``_source`` names a
message's file and index, so the split store's sources are mapped back to the
positions the same messages have in the whole log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetgraph.cli.main import cli
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.sources.eventlog import write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.codec import SchemaError
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.embedded import SQLiteGraphStore

Row = tuple[str, tuple[object, ...]]


def _fleet_log() -> list[tuple[str, bytes, int | None]]:
    """(topic, payload, event time or None when it does not decode), in arrival order."""
    codec = load_event_codec()
    config = SimulationConfig(seed=11, sites=3, hours=3, malformed_rate=0.01)
    out = []
    for topic, payload, _ in simulate_messages(config, codec):
        try:
            time: int | None = int(codec.decode(payload)[1]["event_time"])
        except (SchemaError, KeyError, TypeError, ValueError):
            time = None
        out.append((str(topic), payload, time))
    return out


def _ingest(tmp: Path, db: Path, *logs: Path) -> str:
    runner = CliRunner()
    output = ""
    for n, log in enumerate(logs):
        mode = "--fresh" if n == 0 else "--append"
        result = runner.invoke(cli, ["--data-dir", str(tmp), "ingest", str(log), "--db", str(db),
                                     mode])
        assert result.exit_code == 0, result.output
        output += result.output
    return output


def _rows(db: Path, sources: dict[str, str] | None = None) -> Iterator[Row]:
    store = SQLiteGraphStore(FLEET, db)
    at = {t.name: t.all_columns.index("_source") for t in store.tables}
    try:
        for table, row in store.dump():
            if sources is not None:
                i = at[table]
                row = (*row[:i], sources[str(row[i])], *row[i + 1:])
            yield table, row
    finally:
        store.close()


@pytest.fixture(scope="module")
def fleet() -> list[tuple[str, bytes, int | None]]:
    return _fleet_log()


def _cut_by_time(tmp: Path, fleet: list[tuple[str, bytes, int | None]],
                 moved: frozenset[int] = frozenset()) -> dict[str, str]:
    """Write whole.avro, and early.avro / late.avro cut at the median event time (the
    ``moved`` indexes go late whatever their time); returns the split logs' sources
    mapped to the whole log's."""
    write_event_log(tmp / "whole.avro", ((t, p) for t, p, _ in fleet))
    times = sorted(time for _, _, time in fleet if time is not None)
    cut = times[len(times) // 2]
    parts: dict[str, list[int]] = {"early.avro": [], "late.avro": []}
    for i, (_, _, time) in enumerate(fleet):
        early = (time is None or time <= cut) and i not in moved
        parts["early.avro" if early else "late.avro"].append(i)
    sources = {}
    for name, indexes in parts.items():
        write_event_log(tmp / name, ((fleet[i][0], fleet[i][1]) for i in indexes))
        sources.update({f"{name}:{j}": f"whole.avro:{i}" for j, i in enumerate(indexes)})
    return sources


def test_a_log_cut_by_event_time_and_appended_stores_the_same_rows_as_one_log(
    tmp_path: Path, fleet: list[tuple[str, bytes, int | None]],
) -> None:
    sources = _cut_by_time(tmp_path, fleet)
    _ingest(tmp_path, tmp_path / "one.sqlite", tmp_path / "whole.avro")
    output = _ingest(tmp_path, tmp_path / "split.sqlite", tmp_path / "early.avro",
                     tmp_path / "late.avro")
    assert "warning" not in output

    one = list(_rows(tmp_path / "one.sqlite"))
    split = list(_rows(tmp_path / "split.sqlite", sources))
    assert len(one) == len(split)
    assert [r for r in split if r not in set(one)] == []
    assert one == split

    # not vacuous: the appended half has enriched jobs and faults
    store = SQLiteGraphStore(FLEET, tmp_path / "split.sqlite")
    late_jobs = [r for r in store.scan_nodes("job", None, 100_000).records
                 if r.origin and r.origin.latest.source.startswith("late.avro")]
    late_faults = [r for r in store.scan_nodes("fault", None, 100_000).records
                   if r.origin and r.origin.latest.source.startswith("late.avro")]
    store.close()
    assert late_jobs and all(j.props.get("region") and j.props.get("jurisdiction")
                             for j in late_jobs if j.props.get("site_id"))
    assert sum(bool(j.props.get("site_id")) for j in late_jobs) >= len(late_jobs) // 2
    assert any(f.props.get("affected_racks") for f in late_faults)


def test_an_appended_log_with_older_topology_changes_says_so(
    tmp_path: Path, fleet: list[tuple[str, bytes, int | None]],
) -> None:
    """The condition: a rack's cooling link that arrives after the events it explains
    cannot enrich them any more; the run counts such changes."""
    codec = load_event_codec()
    links = [i for i, (topic, payload, time) in enumerate(fleet)
             if topic == "inventory" and time is not None
             and codec.decode(payload)[1]["kind"] == "linked"]
    moved = frozenset(links[:3])
    _cut_by_time(tmp_path, fleet, moved)
    output = _ingest(tmp_path, tmp_path / "split.sqlite", tmp_path / "early.avro",
                     tmp_path / "late.avro")
    assert "warning: 3 topology changes in this log are older than events ingested before" \
        in output
