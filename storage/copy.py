"""A whole embedded store copied into Cassandra in bulk, with no pipeline: its records
as the upserts that make them, its kept history as is, through the Cassandra bulk
load (SSTables, imported). ``fleetgraph backfill --from-store PATH --store cassandra``
runs it: moving a deployment from the embedded default to the real stack, or loading
a benchmark's graph. The copy's graph equals the source's (the same per-namespace
digests as the same events streamed into Cassandra: tests/storage/test_store_copy.py).

The read models (site states) are not copied as stored: the source's rows hold as of
the clock of whoever wrote them (its ingest, hours before the copy perhaps). They are
computed anew from the source at the copy's clock (:func:`copy_read_models`: the
embedded store reads the fleet in seconds where Cassandra's driver takes minutes) and
only their rows are written to Cassandra: a rebuild on Cassandra of the copied graph
gives the same rows (tests/storage/test_store_copy_cassandra.py).

Both backends are imported when a copy runs only (this module joins them; neither
knows the other).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.types import Registry
from fleetgraph.storage.base import GraphStore, StorageError
from fleetgraph.storage.bulk import BulkReport, BulkTools
from fleetgraph.storage.config import StoreConfig
from fleetgraph.storage.delegating import DelegatingStore

if TYPE_CHECKING:
    from fleetgraph.storage.cassandra.bulk import CassandraBulkLoad


@dataclass
class CopyReport:
    """A store copied in bulk: what was read, what the load wrote, and its cost."""

    source: Path
    records: int  # nodes and edges read
    history_writes: int
    load: BulkReport
    seconds: float  # from the first row read to the last table imported
    cpu_seconds: float  # this process's (reading, planning, encoding)

    @property
    def rows_per_second(self) -> float:
        return self.load.rows / self.seconds if self.seconds else 0.0


def copy_embedded(
    source: Path,
    config: StoreConfig,
    *,
    tools: BulkTools,
    work_dir: Path,
    registry: Registry = FLEET,
    clock: Callable[[], int] = wall_clock_us,
    on_rows: Callable[[int], object] | None = None,
) -> CopyReport:
    """The embedded store at ``source`` (read only) into the Cassandra store of
    ``config``, through SSTables: every node and edge, every kept history write.
    Cassandra merges by event time, so a copy into keyspaces that hold data already
    keeps the newer of each property. The read models are not copied: compute them
    from the source with :func:`copy_read_models` (or ``fleetgraph read-models
    rebuild`` on the target). ``on_rows`` hears how many records (or history writes)
    each batch held."""
    from fleetgraph.storage.cassandra.bulk import CassandraBulkLoad
    from fleetgraph.storage.embedded.export import StoreExport

    export = StoreExport(source, registry)
    started, cpu = time.perf_counter(), _cpu()
    records = history = 0
    try:
        load = CassandraBulkLoad.open(config.cassandra, tools, work_dir, registry=registry,
                                      clock=clock)
        try:
            current: tuple[bool, str] | None = None
            for node, type_name, batch in export.live():
                if current is not None and current != (node, type_name):
                    closing(load, current, export.history_tables)
                current = (node, type_name)
                load.write_copy(batch)
                records += len(batch)
                if on_rows is not None:
                    on_rows(len(batch))
            for edge_type, writes in export.history():
                load.write_history(edge_type, writes)
                history += len(writes)
                if on_rows is not None:
                    on_rows(len(writes))
        except BaseException:
            load.abort()
            raise
        report = load.finish()
    finally:
        export.close()
    return CopyReport(source, records, history, report, time.perf_counter() - started,
                      _cpu() - cpu)


class ReadModelsElsewhere(DelegatingStore):
    """The graph of ``source`` (read only: a write of it raises StorageError), the read
    models of ``target``: what reads the graph to compute read models (the site-state
    maintainer's rebuild) computes them from one store and writes them to another."""

    READS = frozenset({"get_nodes", "neighbours", "neighbour_ids", "node_values",
                       "scan_nodes", "count", "describe", "dump"})

    def __init__(self, source: GraphStore, target: GraphStore) -> None:
        super().__init__(source)
        self.target = target

    def before(self, method: str, *details: object) -> None:
        if method not in self.READS:
            raise StorageError(f"{method}: the source store of a read-model copy is read only")

    def put_read_models(self, model: str, rows: Mapping[str, str | None]) -> None:
        self.target.put_read_models(model, rows)

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        return self.target.get_read_models(model, keys)


def copy_read_models(source: Path, config: StoreConfig, rebuild: Callable[[GraphStore], object],
                     *, registry: Registry = FLEET, clock: Callable[[], int] = wall_clock_us
                     ) -> float:
    """The read models of the Cassandra store of ``config`` computed from the embedded
    store at ``source`` (opened with ``schema="check"``, never written), both stores on
    ``clock``: ``rebuild`` (the site-state maintainer's rebuild, from the layer above)
    is given a store that reads the source's graph and reads and writes the target's
    read models. The source's own read-model rows are not read. Returns the seconds."""
    from fleetgraph.storage.cassandra import CassandraGraphStore
    from fleetgraph.storage.embedded import SQLiteGraphStore

    started = time.perf_counter()
    embedded = SQLiteGraphStore(registry, source, schema="check", clock=clock)
    try:
        target = CassandraGraphStore(registry, config.cassandra, schema="check", clock=clock)
        try:
            rebuild(ReadModelsElsewhere(embedded, target))
        finally:
            target.close()
    finally:
        embedded.close()
    return time.perf_counter() - started


def closing(load: CassandraBulkLoad, finished: tuple[bool, str],
            with_history: Collection[str]) -> None:
    """A type's records are all sent: its tables are written out and their buffers
    freed, unless its history is still to come (the tables close at the end)."""
    node, type_name = finished
    if node or type_name not in with_history:
        load.close_type(node, type_name)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
