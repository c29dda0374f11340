"""The backfill's orchestration (ingest/backfill.py) without Cassandra: a bulk load
that writes into an embedded store gets the graph the ordinary ingest makes of the
same log, the same dead letters, is finished once, and is aborted (nothing made
visible) when the run fails."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import Upsert
from fleetgraph.ingest.backfill import backfill
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.sources.eventlog import read_event_log, write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.bulk import BulkReport
from fleetgraph.storage.checksum import digest_differences, graph_digests
from fleetgraph.storage.embedded import SQLiteGraphStore

NOW = 1_790_000_000_000_000


class StoreLoad:
    """A BulkLoad that holds every batch and writes them all at ``finish``."""

    def __init__(self, store: SQLiteGraphStore, fail_after: int | None = None) -> None:
        self.sink = StoreSink(store)
        self.held: list[Sequence[Upsert]] = []
        self.finished = self.aborted = 0
        self.fail_after = fail_after

    def write(self, upserts: Sequence[Upsert]) -> None:
        if self.fail_after is not None and len(self.held) >= self.fail_after:
            raise KeyboardInterrupt  # anything that stops the run
        self.held.append(list(upserts))

    def finish(self) -> BulkReport:
        self.finished += 1
        for batch in self.held:
            self.sink.write(batch)
        return BulkReport(upserts=sum(map(len, self.held)), imported=True)

    def abort(self) -> None:
        self.aborted += 1
        self.held.clear()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = SimulationConfig(seed=3, sites=2, hours=4.0, end_time_us=NOW, malformed_rate=0.02)
    path = tmp_path_factory.mktemp("archive") / "events.avro"
    write_event_log(path, ((str(t), p) for t, p, _ in simulate_messages(config,
                                                                      load_event_codec())))
    return path


def test_backfill_gives_the_ingests_graph_and_dead_letters(archive: Path,
                                                           tmp_path: Path) -> None:
    clock = lambda: NOW  # noqa: E731
    ingested = SQLiteGraphStore(FLEET, tmp_path / "ingested.sqlite", clock=clock)
    letters = DeadLetterList()
    pipeline = Pipeline.for_fleet(StoreSink(ingested), letters, clock=clock)
    run_embedded(pipeline, lambda: read_event_log(archive))

    backfilled = SQLiteGraphStore(FLEET, tmp_path / "backfilled.sqlite", clock=clock)
    load = StoreLoad(backfilled)
    bulk_letters = DeadLetterList()
    report = backfill(archive, load, bulk_letters)

    assert load.finished == 1 and load.aborted == 0
    assert report.load.upserts == report.run.stats.written == pipeline.stats.written
    assert digest_differences(graph_digests(ingested, FLEET),
                              graph_digests(backfilled, FLEET)) == []
    assert bulk_letters.counts and bulk_letters.counts == letters.counts
    assert [r["source"] for r in bulk_letters.records] == [r["source"] for r in letters.records]


def test_a_failed_run_aborts_the_load(archive: Path, tmp_path: Path) -> None:
    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    load = StoreLoad(store, fail_after=0)
    with pytest.raises(KeyboardInterrupt):
        backfill(archive, load, DeadLetterList())
    assert load.aborted == 1 and load.finished == 0
    assert sum(graph_digests(store, FLEET)[n].rows for n in graph_digests(store, FLEET)) == 0
