"""Part 1 of the benchmark alone, per core: the embedded ingest against raw SQLite
inserts of the same rows, both timed in CPU seconds of this process.

    python -m fleetgraph.bench.ingest_per_core [--size 1e5] [--repeats 1] [--end-us N] [--general]

CPU time (``time.process_time``: user + system of this process; SQLite runs in
it) is what a core gives the work, whatever else the shared machine runs. The
pipeline run is the one of ``fleetgraph bench`` (:func:`fleetgraph.bench.ingest.
run_pipeline`'s wiring: the fleet's pipeline, a recording store sink, the
embedded runner). Two baselines, measured in the same run on the rows the
pipeline wrote, in the same batches:

- ``raw``: what ``fleetgraph bench`` calls the raw SQLite baseline: build each
  row tuple from its upsert and ``INSERT OR REPLACE`` it (``bench.ingest.raw_inserts``
  with its row building frozen here, so that a faster store does not move it);
- ``engine``: the same inserts of rows built beforehand: SQLite alone.

The ratios are pipeline events per CPU-second over baseline events per CPU-second.
``digest`` is the stored graph's (``storage.checksum.graph_digests``, hashed once more,
untimed): a faster pipeline must keep it; it depends on the log's end, which
``--end-us`` fixes (1796270400000000 gives 0b050510b22bb51a at 1e5). ``--general``
also times the pipeline with every reading through the general path (no
``stages.readings`` fast path), in the same run, to the same digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from fleetgraph.bench import workload
from fleetgraph.bench.ingest import RecordingSink
from fleetgraph.core.clock import minute_floor_us, wall_clock_us
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Upsert
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import ingest_collector, run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.storage.checksum import graph_digests
from fleetgraph.storage.embedded import SQLiteGraphStore
from fleetgraph.storage.embedded.tables import Table

Row = tuple[Any, ...]


def frozen_row(table: Table, key: tuple[str, ...], upsert: Upsert) -> Row:
    """A row as the store wrote it before the per-core work (the baseline's row building;
    kept here unchanged so that the baseline does not move with the store's code)."""
    values: list[Any] = list(key)
    props, ts = upsert.props, upsert.ts
    prop_ts = upsert.prop_ts or {}
    for prop in table.props:
        if prop.name in props:
            values.append(props[prop.name])
            values.append(prop_ts.get(prop.name, ts))
        else:
            values.append(None)
            values.append(None)
    p = upsert.provenance
    created_at, created_by = upsert.created or (ts, p.event_id)
    values += [ts, p.event_id, p.source, p.event_time, p.writer, created_at, created_by]
    return tuple(values)


class RawSQLite:
    """Tables of the store's shape, written with plain ``INSERT OR REPLACE``."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.nodes = {n: Table.for_node(t) for n, t in FLEET.nodes.items()}
        self.edges = {n: Table.for_edge(t) for n, t in FLEET.edges.items()}
        self.sql: dict[str, str] = {}
        for table in [*self.nodes.values(), *self.edges.values()]:
            for statement in table.create_sql():
                self.db.execute(statement)
            columns = table.all_columns
            self.sql[table.name] = (
                f"INSERT OR REPLACE INTO {table.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})")

    def rows(self, batch: list[Upsert]) -> dict[str, list[Row]]:
        rows: dict[str, list[Row]] = {}
        for u in batch:
            if isinstance(u, NodeUpsert):
                table = self.nodes[u.type]
                rows.setdefault(table.name, []).append(frozen_row(table, (u.id,), u))
            elif isinstance(u, EdgeUpsert):
                table = self.edges[u.type]
                rows.setdefault(table.name, []).append(frozen_row(table, (u.from_id, u.to_id), u))
        return rows

    def insert(self, rows: dict[str, list[Row]]) -> None:
        self.db.execute("BEGIN")
        for name, values in rows.items():
            self.db.executemany(self.sql[name], values)
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def raw_cpu_s(batches: list[list[Upsert]], path: Path) -> float:
    """CPU seconds to build the rows of each batch and insert them (``raw``)."""
    raw = RawSQLite(path)
    started = time.process_time()
    for batch in batches:
        raw.insert(raw.rows(batch))
    cpu = time.process_time() - started
    raw.close()
    return cpu


def engine_cpu_s(batches: list[list[Upsert]], path: Path) -> float:
    """CPU seconds to insert rows built beforehand (``engine``: SQLite alone)."""
    raw = RawSQLite(path)
    prepared = [raw.rows(batch) for batch in batches]
    started = time.process_time()
    for rows in prepared:
        raw.insert(rows)
    cpu = time.process_time() - started
    raw.close()
    return cpu


def store_digest(store: SQLiteGraphStore) -> str:
    """One SHA-256 over the digests of every namespace of the stored graph (the same
    graph, the same digest: a faster pipeline must keep it)."""
    digests = graph_digests(store, FLEET)
    text = json.dumps({name: [d.rows, d.sha256] for name, d in sorted(digests.items())})
    return hashlib.sha256(text.encode()).hexdigest()


def pipeline_cpu_s(messages: list[Message], path: Path, clock_us: int,
                   fast_readings: bool = True) -> tuple[float, int, int, str]:
    """CPU seconds of the embedded ingest of ``messages`` into a store at ``path`` (opened
    and closed outside the timing), as ``fleetgraph ingest`` runs it (a plain store sink,
    keeping nothing); rows written; dead letters; the stored graph's digest (untimed).
    ``fast_readings`` False: every reading through the general path (``Pipeline``)."""
    store = SQLiteGraphStore(FLEET, path)
    pipeline = Pipeline.for_fleet(StoreSink(store), DeadLetterList(), clock=lambda: clock_us)
    pipeline.fast_readings = fast_readings
    started = time.process_time()
    report = run_embedded(pipeline, lambda: messages)
    cpu = time.process_time() - started
    digest = store_digest(store)
    store.close()
    return cpu, report.stats.written, report.stats.dead_lettered, digest


def written_batches(messages: list[Message], path: Path, clock_us: int
                    ) -> tuple[list[list[Upsert]], int]:
    """The batches the same ingest writes (a second run, not timed: keeping every batch
    would grow the heap the timed run's collector walks); rows written."""
    store = SQLiteGraphStore(FLEET, path)
    sink = RecordingSink(store)
    pipeline = Pipeline.for_fleet(sink, DeadLetterList(), clock=lambda: clock_us)
    report = run_embedded(pipeline, lambda: messages)
    store.close()
    return sink.batches, report.stats.written


def measure(messages: list[Message], work: Path, clock_us: int,
            general: bool = False) -> dict[str, Any]:
    """``general``: the pipeline without the readings' fast path measured too, right
    after the pipeline (its figures as ``general_*``; its digest must be the same)."""
    events = len(messages)
    cpu, written, dead, digest = pipeline_cpu_s(messages, work / "p.sqlite", clock_us)
    compared: dict[str, Any] = {}
    if general:
        general_cpu, _, _, general_digest = pipeline_cpu_s(
            messages, work / "g.sqlite", clock_us, fast_readings=False)
        assert general_digest == digest, (general_digest, digest)
        compared = {"general_cpu_s": round(general_cpu, 3),
                    "general_events_per_cpu_s": round(events / general_cpu)}
    batches, recorded = written_batches(messages, work / "r.sqlite", clock_us)
    assert recorded == written, (recorded, written)
    with ingest_collector():  # the same collector settings as the pipeline's run
        raw = raw_cpu_s(batches, work / "raw.sqlite")
        engine = engine_cpu_s(batches, work / "engine.sqlite")
    return {
        "events": events,
        "writes": written,
        "dead_lettered": dead,
        "cpu_s": round(cpu, 3),
        "events_per_cpu_s": round(events / cpu),
        "raw_cpu_s": round(raw, 3),
        "raw_events_per_cpu_s": round(events / raw),
        "ratio_to_raw": round(raw / cpu, 3),
        "engine_cpu_s": round(engine, 3),
        "engine_events_per_cpu_s": round(events / engine),
        "ratio_to_engine": round(engine / cpu, 3),
        **({**compared, "general_ratio_to_raw": round(raw / compared["general_cpu_s"], 3)}
           if compared else {}),
        "digest": digest[:16],
    }


def run(size: str, repeats: int, end_us: int | None = None, general: bool = False
        ) -> list[dict[str, Any]]:
    """``end_us``: the simulated log's end (default: this minute; the digest depends on it);
    ``general``: see :func:`measure`."""
    if end_us is None:
        end_us = minute_floor_us(wall_clock_us())
    messages = workload.messages(workload.size(size, end_us).config)
    results = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            results.append({"size": size, **measure(messages, Path(tmp), end_us, general)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1e5", choices=workload.SIZES)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--end-us", type=int, default=None,
                        help="the simulated log's end in µs (default: this minute); fix it "
                        "to compare the stored graph's digest across runs")
    parser.add_argument("--general", action="store_true",
                        help="also measure the pipeline without the readings' fast path, "
                        "in the same run (general_* figures)")
    args = parser.parse_args()
    for result in run(args.size, args.repeats, args.end_us, args.general):
        print(json.dumps(result))


if __name__ == "__main__":
    main()
