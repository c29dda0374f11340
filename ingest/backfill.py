"""Backfill: an archive (an event log) replayed through the pipeline into a bulk load.

The same stages as every ingest (``Pipeline.for_fleet``: decode, validate, filter,
enrich, to-graph, dedup with the settings' window), driven as the embedded runner
drives them (inventory first), so the upserts are the streaming path's; only the
sink differs: a :class:`~fleetgraph.storage.bulk.BulkLoad` gathers the store's rows
and makes them visible at the end. Refused events go to the dead letters as in
any ingest; an upsert the store refuses (its rows cannot be planned) dead-letters
the messages that made it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fleetgraph.ingest.deadletter import DeadLetters
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import RunReport, run_embedded
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.settings import IngestSettings
from fleetgraph.storage.bulk import BulkLoad, BulkReport


@dataclass
class BackfillReport:
    run: RunReport  # the pipeline's side: messages, upserts, dead letters
    load: BulkReport  # the store's side: rows, SSTables, the writer's time
    seconds: float  # from the first message to the rows visible
    cpu_seconds: float  # this process's CPU time (planning included)

    @property
    def rows_per_second(self) -> float:
        return self.load.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def events_per_second(self) -> float:
        return self.run.stats.received / self.seconds if self.seconds > 0 else 0.0


def backfill(
    archive: Path,
    load: BulkLoad,
    dead_letters: DeadLetters,
    *,
    ingest: IngestSettings | None = None,
    on_message: Callable[[], object] | None = None,
) -> BackfillReport:
    """Replay ``archive`` into ``load`` and finish it; on any failure the load is
    aborted (nothing imported) and the error raised."""
    started, cpu = time.perf_counter(), time.process_time()
    pipeline = Pipeline.for_fleet(load, dead_letters, ingest=ingest)
    try:
        run = run_embedded(pipeline, lambda: read_event_log(archive), on_message=on_message)
    except BaseException:
        load.abort()
        raise
    report = load.finish()
    return BackfillReport(run, report, time.perf_counter() - started,
                          time.process_time() - cpu)
