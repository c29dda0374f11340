"""The bulk copy of an embedded store into Cassandra (``fleetgraph backfill --from-store``):
a simulated fleet's log (duplicates, reordering, shuffled, the TTL'd ``cached_at``
edges and their history) ingested into the embedded store, copied through SSTables,
gives the graph the same log gives streamed into Cassandra statement by statement
(the same per-namespace digests, the same history and time-index rows), the
embedded store's record counts, and read models (computed from the embedded store by
the copy) equal to a rebuild on Cassandra of the copied graph at the same time, and to
the embedded store's own rebuild.

Needs the local stack's Cassandra (its jars and JMX port: the import runs through
nodetool's JMX interface); fails, not skips, without it under FLEETGRAPH_REQUIRE_STACK=1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.read_models.replicas import REPLICAS
from fleetgraph.ingest.read_models.site_state import SITE_FREE_GPUS, SITE_STATE
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.settings import Settings
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import Direction
from fleetgraph.storage.cassandra.schema import LATEST, SEP
from fleetgraph.storage.checksum import digest_differences, graph_digests
from fleetgraph.storage.embedded import SQLiteGraphStore
from fleetgraph.storage.embedded.export import StoreExport
from tests.bulk_support import bulk_tools, shuffled_archive
from tests.conftest import CassandraGraphs

pytestmark = pytest.mark.integration

NOW = (time.time_ns() // 1000) // 60_000_000 * 60_000_000  # cached_at lives 30 days from here
CONFIG = SimulationConfig(seed=23, sites=2, hours=6.0, end_time_us=NOW, duplicate_rate=0.05,
                          malformed_rate=0.0)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shuffled_archive(CONFIG, 7, tmp_path_factory.mktemp("copy") / "archive.avro")


@pytest.fixture
def tools() -> Iterator[object]:
    yield bulk_tools()


def rows_of(store: Any, tables: list[Any], *, source: bool = True
            ) -> dict[str, list[tuple[object, ...]]]:
    """Every row of these tables (bucket columns included), sorted; ``source=False``
    blanks the provenance source in ``latest``."""
    out = {}
    for t in tables:
        rows = [tuple(r) for r in store.session.execute(t.dump_cql())]
        if not source:
            i = t.select_columns.index(LATEST)
            rows = [(*r[:i], blank_source(r[i]), *r[i + 1:]) for r in rows]
        out[t.qualified] = sorted(rows, key=repr)
    return out


def blank_source(latest: Any) -> Any:
    if not isinstance(latest, str):
        return latest
    event_id, _source, rest = latest.split(SEP, 2)
    return SEP.join((event_id, "", rest))


def history_and_index(store: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """The history tables, the time index's ``open`` tables and its ``ends`` tables."""
    history, opened, ends = [], [], []
    for namespace in store.namespaces:
        history += list(getattr(namespace, "history", None) or ())
        index = getattr(namespace, "index", None)
        if index is not None:
            opened += [index.open_out, index.open_in]
            ends += [index.ends_out, index.ends_in]
    return history, opened, ends


def directory_and_partitions(store: Any) -> tuple[set[Any], set[Any]]:
    """The bucket directories' entries (table, near id, bucket), and the partitions of
    the wide sides and their bucketed history (the same keys): the entries must cover
    them."""
    entries, partitions = set(), set()
    for namespace in store.namespaces:
        directory = getattr(namespace, "directory", None)
        if directory is None:
            continue
        for near, bucket in store.session.execute(
                f"SELECT to_id, bucket FROM {directory.qualified}"):
            entries.add((directory.qualified, near, bucket))
        history = namespace.history_side(Direction.IN)
        for table in (namespace.in_edges, *((history,) if history is not None else ())):
            for near, bucket in store.session.execute(
                    f"SELECT DISTINCT to_id, bucket FROM {table.qualified}"):
                partitions.add((directory.qualified, near, bucket))
    return entries, partitions


def differences(expected: dict[str, list[tuple[object, ...]]],
                actual: dict[str, list[tuple[object, ...]]]) -> list[str]:
    """The first rows of each table found on one side only."""
    lines = []
    for table in sorted(set(expected) | set(actual)):
        want, got = set(expected.get(table, ())), set(actual.get(table, ()))
        lines += [f"{table}: missing {r}" for r in sorted(want - got, key=repr)[:3]]
        lines += [f"{table}: extra {r}" for r in sorted(got - want, key=repr)[:3]]
    return lines


@pytest.mark.timeout(2400)  # schema changes of a busy node take minutes
def test_copy_gives_the_streamed_graph(
    archive: Path, tmp_path: Path, tools: object, cassandra_graphs: CassandraGraphs
) -> None:
    from fleetgraph.cli.backfill import copy_to_cassandra
    from fleetgraph.ingest.read_models.maintain import rebuild_read_models
    from fleetgraph.storage.bulk import BulkTools

    assert isinstance(tools, BulkTools)
    db = tmp_path / "graph.sqlite"
    embedded = SQLiteGraphStore(FLEET, db)
    run_embedded(Pipeline.for_fleet(StoreSink(embedded), DeadLetterList()),
                 lambda: read_event_log(archive))
    store = cassandra_graphs.store()
    try:
        settings = Settings.from_environ().updated(
            store={"cassandra": store.config.model_dump()})
        copied, _ = copy_to_cassandra(settings, db, tmp_path / "work", progress=False,
                                      clock=lambda: NOW)
        assert copied.load.imported and copied.load.rows > 0
        assert copied.history_writes > 0  # cached_at's kept writes are in the copy
        assert not any((tmp_path / "work").iterdir())  # the imported SSTables moved away
        actual = graph_digests(store, FLEET)
        history, opened, ends = history_and_index(store)
        actual_history = rows_of(store, history, source=False)
        actual_open = rows_of(store, opened)
        actual_ends = rows_of(store, ends)
        actual_directory, partitions = directory_and_partitions(store)
        assert partitions and partitions <= actual_directory  # the copy wrote the directory
        read_models = {m: store.get_read_models(m)
                       for m in (SITE_STATE, SITE_FREE_GPUS, REPLICAS)}

        # the embedded store's records, each in both adjacency tables of Cassandra
        export = StoreExport(db, FLEET)
        counts = export.counts()
        export.close()
        for name, digest in actual.items():
            assert digest.rows == counts[name] * (1 if name.startswith("node_") else 2), name
        assert sum(len(rows) for rows in actual_history.values()) == \
            2 * sum(counts[f"hist_{e}"] for e, t in FLEET.edges.items() if t.keeps_history)

        # the read models the copy computed from the embedded store: what a rebuild on
        # Cassandra of the copied graph writes at the same time (it deletes rows of sites
        # that are not there, rewrites every other), and what the embedded store computes
        assert len(read_models[SITE_STATE]) == CONFIG.sites + 1  # and the directory mark
        assert any(read_models[SITE_FREE_GPUS].values())
        assert read_models[REPLICAS]  # the simulated fleet caches artifacts
        rebuild_read_models(store, lambda: NOW)
        for model, rows in read_models.items():
            assert rows == store.get_read_models(model), model
        rebuild_read_models(embedded, lambda: NOW)
        for model, rows in read_models.items():
            assert rows == embedded.get_read_models(model), model

        # the same log streamed into Cassandra through the driver
        store.truncate(only_written=False)
        run_embedded(Pipeline.for_fleet(StoreSink(store), DeadLetterList()),
                     lambda: read_event_log(archive))
        expected = graph_digests(store, FLEET)
        assert digest_differences(expected, actual) == []
        assert expected["edge_cached_at"].rows > 0  # the TTL'd type is in the comparison
        assert sum(d.rows for d in expected.values()) > 1000
        # one event delivered twice (same event id and time, two offsets): the embedded
        # history keeps the last delivery's source, Cassandra's tie-break the greater
        diff = differences(rows_of(store, history, source=False), actual_history)
        assert not diff, "\n".join(diff)
        assert differences(rows_of(store, opened), actual_open) == []
        # ends: the copy's are the final ones; streaming keeps a row per end ever written
        streamed_ends = rows_of(store, ends)
        for table, rows in actual_ends.items():
            assert set(rows) <= set(streamed_ends[table]), table
        assert sum(len(rows) for rows in actual_ends.values()) > 0
        # the bucket directories: the same entries as streaming writes
        assert directory_and_partitions(store)[0] == actual_directory
    finally:
        embedded.close()
        cassandra_graphs.release(store, written_elsewhere=True)
