"""Bulk loads: a store filled from a whole archive at once, not statement by statement.

A :class:`BulkLoad` takes the pipeline's upsert batches as any sink does (``write``),
and makes them durable at ``finish``. Cassandra's (``storage/cassandra/bulk.py``)
writes the rows its store would write as SSTables in a Java process and imports
them into the live tables; the tools it runs (a JDK, the cassandra-all jars, the
compiled writer) come from the caller as :class:`BulkTools` (``fleetgraph.infra.bulk``
builds them from the local stack), since storage knows nothing of infra.

A whole embedded store is copied into Cassandra the same way, with no pipeline, by
``fleetgraph.storage.copy``.

Like the store factory, this entry point names the backends, and imports one only
when it is opened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.core.errors import ConfigError
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import Upsert
from fleetgraph.graph_model.types import Registry
from fleetgraph.storage.config import StoreConfig, StoreKind


@dataclass(frozen=True)
class BulkTools:
    """What the Cassandra bulk writer runs: ``command`` starts the SSTable writer
    (infra/bulk/SSTableLoaderMain.java) and ``jmx`` (``host:port``) is where the node
    takes the import; None writes the SSTables and leaves them for the caller."""

    command: tuple[str, ...]
    jmx: str | None


@dataclass
class BulkReport:
    """What a bulk load wrote: upserts in, rows (single-row writes) out, and where."""

    upserts: int = 0
    history_writes: int = 0  # kept writes of the types with history (a store copy's)
    rows: int = 0
    tables: int = 0
    sstables: int = 0
    write_seconds: float = 0.0  # the writer's, from its start to its SSTables closed
    import_seconds: float = 0.0
    helper_cpu_seconds: float = 0.0  # the writer process's CPU time (user + system)
    imported: bool = False
    sstable_dir: Path | None = None  # where the SSTables were written (kept when not imported)
    details: list[dict[str, Any]] = field(default_factory=list)  # per table


class BulkLoad(Protocol):
    """A sink for the pipeline (``write`` as ``GraphSink``) that loads in bulk."""

    def write(self, upserts: Sequence[Upsert]) -> None: ...

    def finish(self) -> BulkReport:
        """Make everything written durable and visible (import), and report."""
        ...

    def abort(self) -> None:
        """Stop without importing anything (the run failed)."""
        ...


def open_bulk_load(
    config: StoreConfig,
    *,
    tools: BulkTools,
    work_dir: Path,
    kind: StoreKind | str | None = None,
    registry: Registry = FLEET,
    clock: Callable[[], int] = wall_clock_us,
) -> BulkLoad:
    """A bulk load into the store ``kind`` names (``config.kind`` by default), its
    SSTables under ``work_dir``. Only Cassandra has one: the embedded store's fast
    path is the ordinary ingest (one process, batched transactions)."""
    kind = kind or config.kind
    if kind != "cassandra":
        raise ConfigError(f"no bulk load for the {kind!r} store: only cassandra has one "
                          "(the embedded store ingests at full speed already)")
    from fleetgraph.storage.cassandra.bulk import CassandraBulkLoad

    return CassandraBulkLoad.open(config.cassandra, tools, work_dir, registry=registry,
                                  clock=clock)

