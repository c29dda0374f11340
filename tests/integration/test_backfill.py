"""The bulk backfill on the real Cassandra: a simulated fleet's log (duplicates,
reordering, shuffled, malformed messages, the TTL'd ``cached_at`` edges and their
history) backfilled through SSTables gives the same per-namespace digests as the
same log written statement by statement through the driver (the streaming path's
store), and dead-letters the same messages.

Needs the local stack's Cassandra (its jars and JMX port: the import runs through
nodetool's JMX interface), as `fleetgraph stack up` starts it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.backfill import backfill
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.checksum import digest_differences, graph_digests
from tests.bulk_support import bulk_tools, shuffled_archive
from tests.conftest import CassandraGraphs

pytestmark = pytest.mark.integration

NOW = (time.time_ns() // 1000) // 60_000_000 * 60_000_000  # cached_at lives 30 days from here
CONFIG = SimulationConfig(seed=11, sites=2, hours=6.0, end_time_us=NOW, duplicate_rate=0.05,
                          malformed_rate=0.01)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shuffled_archive(CONFIG, 5, tmp_path_factory.mktemp("backfill") / "archive.avro")


@pytest.fixture
def tools() -> Iterator[object]:
    yield bulk_tools()


@pytest.mark.timeout(2400)  # schema changes of a busy node take minutes
def test_backfill_gives_the_driver_paths_graph(
    archive: Path, tmp_path: Path, tools: object, cassandra_graphs: CassandraGraphs
) -> None:
    """One prefix (making a graph's keyspaces takes minutes): backfilled, digested,
    emptied, then written through the driver and digested again."""
    from fleetgraph.storage.bulk import BulkTools
    from fleetgraph.storage.cassandra.bulk import CassandraBulkLoad

    assert isinstance(tools, BulkTools)
    store = cassandra_graphs.store()
    try:
        bulk_letters = DeadLetterList()
        load = CassandraBulkLoad(store, tools, tmp_path / "work")
        report = backfill(archive, load, bulk_letters)
        assert report.load.imported and report.load.rows > 0
        assert not any((tmp_path / "work").iterdir())  # the imported SSTables moved away
        actual = graph_digests(store, FLEET)
        ttl = store.session.execute(
            f"SELECT ttl(latest) FROM {store.config.keyspace_prefix}edge_cached_at.out_edges "
            "LIMIT 1").one()[0]
        assert 0 < ttl <= 30 * 24 * 3600  # written with what is left of its 30 days
        store.truncate()

        streamed_letters = DeadLetterList()
        pipeline = Pipeline.for_fleet(StoreSink(store), streamed_letters)
        run_embedded(pipeline, lambda: read_event_log(archive))
        expected = graph_digests(store, FLEET)

        assert report.run.stats.written == pipeline.stats.written
        assert digest_differences(expected, actual) == []
        assert expected["edge_cached_at"].rows > 0  # the TTL'd type is in the comparison
        assert sum(d.rows for d in expected.values()) > 1000
        # the malformed messages, dead-lettered by both paths alike
        assert bulk_letters.counts and bulk_letters.counts == streamed_letters.counts
        assert sorted((r["source"], r["reason"]) for r in bulk_letters.records) == \
            sorted((r["source"], r["reason"]) for r in streamed_letters.records)
    finally:
        cassandra_graphs.release(store, written_elsewhere=True)
