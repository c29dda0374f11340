"""Ingest benchmark on the embedded store, with a raw SQLite baseline.

The pipeline run counts every stage (decode, validate, filter, enrich,
to-graph, dedup, merge-upserts into SQLite). The baseline inserts the very
rows the pipeline wrote, with plain ``INSERT OR REPLACE`` into tables of the
same shape, in the same batches: the cost of the storage engine alone.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Upsert
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.storage.embedded import SQLiteGraphStore
from fleetgraph.storage.embedded.store import row_values
from fleetgraph.storage.embedded.tables import META_COLUMNS, Table


class RecordingSink(StoreSink):
    """A StoreSink that keeps every batch it wrote (for the baseline)."""

    def __init__(self, store: SQLiteGraphStore) -> None:
        super().__init__(store)
        self.batches: list[list[Upsert]] = []

    def write(self, upserts: Sequence[Upsert]) -> None:
        self.batches.append(list(upserts))
        super().write(upserts)


def run_pipeline(messages: list[Message], path: Path, clock_us: int) -> dict[str, Any]:
    store = SQLiteGraphStore(FLEET, path)
    sink = RecordingSink(store)
    pipeline = Pipeline.for_fleet(sink, DeadLetterList(), clock=lambda: clock_us)
    report = run_embedded(pipeline, lambda: messages)
    store.close()
    baseline_s = raw_inserts(sink.batches, path.with_suffix(".raw.sqlite"))
    events = len(messages)
    return {
        "events": events,
        "seconds": round(report.seconds, 3),
        "events_per_s": round(events / report.seconds),
        "writes": report.stats.written,
        "baseline_seconds": round(baseline_s, 3),
        "baseline_events_per_s": round(events / baseline_s),
        "ratio_to_baseline": round(baseline_s / report.seconds, 3),
        "dead_lettered": report.stats.dead_lettered,
    }


def raw_inserts(batches: list[list[Upsert]], path: Path) -> float:
    """Seconds to insert the same rows with plain INSERT OR REPLACE."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    nodes = {n: Table.for_node(t) for n, t in FLEET.nodes.items()}
    edges = {n: Table.for_edge(t) for n, t in FLEET.edges.items()}
    sql = {}
    for table in [*nodes.values(), *edges.values()]:
        for statement in table.create_sql():
            db.execute(statement)
        columns = table.all_columns
        sql[table.name] = (f"INSERT OR REPLACE INTO {table.name} ({', '.join(columns)}) "
                           f"VALUES ({', '.join('?' * len(columns))})")
    assert len(META_COLUMNS) == 7
    started = time.perf_counter()
    for batch in batches:
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for u in batch:
            if isinstance(u, NodeUpsert):
                table = nodes[u.type]
                rows.setdefault(table.name, []).append(
                    row_values(table, (u.id,), u.props, u.ts, u))
            elif isinstance(u, EdgeUpsert):
                table = edges[u.type]
                rows.setdefault(table.name, []).append(
                    row_values(table, (u.from_id, u.to_id), u.props, u.ts, u))
        db.execute("BEGIN")
        for name, values in rows.items():
            db.executemany(sql[name], values)
        db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    return seconds
