"""``fleetgraph bench backfill``: the bulk backfill into the real Cassandra, against the
driver path measured in the same run.

For each size (``fleetgraph.bench.workload``: 1e5, 1e6, ... stored edges) the
benchmark's simulated fleet is written to an archive once (kept under
``<data-dir>/bench-backfill/``; simulating 1e6 takes minutes), then backfilled into
the emptied keyspaces of one prefix (the last size stays loaded): events/s and
rows/s from the first message to the rows imported, CPU seconds of this process
(pipeline and planning) and of the SSTable writer. The baseline: the first
``--sample`` messages of the smallest size through the same pipeline into the
Cassandra store (one UPDATE per row through the driver, the streaming path's
sink) and through the backfill, each on a prefix of its own.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetgraph.bench.workload import size
from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model import FLEET
from fleetgraph.infra.bulk import bulk_tools
from fleetgraph.ingest.backfill import backfill
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.sources.eventlog import read_event_log, write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings
from fleetgraph.simulator import simulate_messages
from fleetgraph.storage.cassandra import CassandraGraphStore
from fleetgraph.storage.cassandra.bulk import CassandraBulkLoad
from fleetgraph.storage.config import CassandraConfig

BULK_PREFIX, DRIVER_PREFIX = "bfb_", "bfd_"  # keyspace prefixes, emptied before each run


@dataclass
class Measure:
    name: str
    events: int
    rows: int
    seconds: float
    cpu_main: float
    cpu_writer: float
    extra: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "events": self.events, "rows": self.rows,
                "seconds": round(self.seconds, 2),
                "events_per_s": round(self.events / self.seconds) if self.seconds else 0,
                "rows_per_s": round(self.rows / self.seconds) if self.seconds else 0,
                "cpu_main_s": round(self.cpu_main, 2), "cpu_writer_s": round(self.cpu_writer, 2),
                **self.extra}


def archive_of(settings: Settings, name: str) -> Path:
    """The size's archive, simulated and written once."""
    path = settings.data_dir / "bench-backfill" / f"{name}.avro"
    if not path.exists():
        config = size(name, wall_clock_us() // 60_000_000 * 60_000_000).config
        partial = path.with_suffix(".partial")
        write_event_log(partial, ((str(t), p) for t, p, _ in
                                  simulate_messages(config, load_event_codec())))
        partial.rename(path)
    return path


def fresh_store(settings: Settings, prefix: str) -> CassandraGraphStore:
    """The store on ``prefix``, its schema made, every table emptied (unless just made:
    truncating a hundred tables takes minutes on a busy node)."""
    config = CassandraConfig(**{**settings.store.cassandra.model_dump(),
                                "keyspace_prefix": prefix})
    store = CassandraGraphStore(FLEET, config, schema="trust")
    if not store.init_schema():
        store.truncate()
    return store


def bulk(settings: Settings, name: str, archive: Path, prefix: str, work: Path) -> Measure:
    store = fresh_store(settings, prefix)
    try:
        load = CassandraBulkLoad(store, bulk_tools(settings.stack), work)
        report = backfill(archive, load, DeadLetterList(), ingest=settings.ingest)
    finally:
        store.close()
    return Measure(f"backfill {name}", report.run.stats.received, report.load.rows,
                   report.seconds, report.cpu_seconds, report.load.helper_cpu_seconds,
                   {"sstables": report.load.sstables, "tables": report.load.tables,
                    "writer_seconds": round(report.load.write_seconds, 2),
                    "import_seconds": round(report.load.import_seconds, 2)})


def driver(settings: Settings, name: str, sample: Path, prefix: str, rows: int) -> Measure:
    store = fresh_store(settings, prefix)
    try:
        pipeline = Pipeline.for_fleet(StoreSink(store), DeadLetterList(), ingest=settings.ingest)
        started, cpu = time.perf_counter(), time.process_time()
        run = run_embedded(pipeline, lambda: read_event_log(sample))
        seconds = time.perf_counter() - started
        return Measure(f"driver {name}", run.stats.received, rows, seconds,
                       time.process_time() - cpu, 0.0, {})
    finally:
        store.truncate()
        store.close()


def run(settings: Settings, sizes: list[str], sample: int, out: Path | None) -> list[Measure]:
    work = settings.data_dir / "bench-backfill"
    work.mkdir(parents=True, exist_ok=True)
    archives = {name: archive_of(settings, name) for name in sizes}
    small = work / f"sample-{sizes[0]}-{sample}.avro"
    if not small.exists():
        head = itertools.islice(read_event_log(archives[sizes[0]]), sample)
        write_event_log(small, ((m.topic, m.payload) for m in head))
    measures = [bulk(settings, f"{sizes[0]} first {sample:,}", small, BULK_PREFIX, work)]
    measures.append(driver(settings, f"{sizes[0]} first {sample:,}", small, DRIVER_PREFIX,
                           measures[0].rows))
    for name in sizes:
        measures.append(bulk(settings, name, archives[name], BULK_PREFIX, work))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([m.as_dict() for m in measures], indent=2) + "\n")
    return measures


def table(measures: list[Measure]) -> str:
    lines = [f"{'run':<28} {'events':>10} {'rows':>11} {'s':>8} {'events/s':>9} "
             f"{'rows/s':>9} {'CPU main':>9} {'CPU writer':>10}"]
    for m in measures:
        d = m.as_dict()
        lines.append(f"{m.name:<28} {m.events:>10,} {m.rows:>11,} {m.seconds:>8.1f} "
                     f"{d['events_per_s']:>9,} {d['rows_per_s']:>9,} {m.cpu_main:>9.1f} "
                     f"{m.cpu_writer:>10.1f}")
    bulk_small = next(m for m in measures if m.name.startswith("backfill ") and "first" in m.name)
    drv = next(m for m in measures if m.name.startswith("driver "))
    if drv.seconds and bulk_small.seconds:
        lines.append(f"ratio backfill/driver on the sample (events/s): "
                     f"{(bulk_small.events / bulk_small.seconds) / (drv.events / drv.seconds):.2f}")
    for m in measures:
        if m.name.startswith("backfill ") and m.events and "first" not in m.name:
            lines.append(f"{m.name}: {m.seconds / m.events * 1e6:.0f} µs per event wall, "
                         f"{m.cpu_main / m.events * 1e6:.0f} µs CPU main, "
                         f"{m.cpu_writer / m.events * 1e6:.0f} µs CPU writer")
    return "\n".join(lines)
