"""Bulk loading Cassandra with the rows the pipeline would store, straight through the
driver (``execute_concurrent_with_args``, one prepared UPDATE per table and column set).

Two uses: the baseline of the real-stack ingest (the same rows, no Kafka, no
Faust), and loading the query benchmarks' graphs, copied from the embedded
store's ``dump()``, far faster than through the pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from fleetgraph.graph_model.records import NodeUpsert, Upsert
from fleetgraph.graph_model.types import Registry
from fleetgraph.storage.cassandra.schema import WIDE_EDGES, EdgeNamespace, NodeNamespace
from fleetgraph.storage.cassandra.writes import plan_edge, plan_node
from fleetgraph.storage.embedded.export import upserts_of
from fleetgraph.storage.embedded.tables import Table as SQLTable

CHUNK_STATEMENTS = 200_000  # planned statements held in memory before they are sent


def upserts_from_dump(registry: Registry,
                      rows: Iterable[tuple[str, tuple[object, ...]]]) -> Iterator[Upsert]:
    """The embedded store's ``dump()`` rows back as the upserts that make them: every
    property with its own event time, the latest provenance and the creation
    (``fleetgraph.storage.embedded.export.upserts_of``, which the bulk copy uses)."""
    tables: dict[str, tuple[bool, str, SQLTable]] = {}
    for name, node_type in registry.nodes.items():
        tables[f"node_{name}"] = (True, name, SQLTable.for_node(node_type))
    for name, edge_type in registry.edges.items():
        tables[f"edge_{name}"] = (False, name, SQLTable.for_edge(edge_type))
    for namespace, group in groupby(rows, key=itemgetter(0)):
        node, type_name, table = tables[namespace]
        yield from upserts_of(table, node, type_name, (row for _, row in group))


@dataclass
class Load:
    """What a bulk load sent and how long the driver took (planning excluded)."""

    upserts: int = 0
    statements: int = 0
    seconds: float = 0.0
    plan_seconds: float = 0.0
    failed: int = 0
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = field(
        default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"upserts": self.upserts, "statements": self.statements,
                "seconds": round(self.seconds, 3), "plan_seconds": round(self.plan_seconds, 3),
                "statements_per_s": round(self.statements / self.seconds) if self.seconds else 0,
                "failed": self.failed}


class BulkLoader:
    """Plans upserts as the Cassandra store would (same rows, same timestamps and TTLs)
    and sends them with ``execute_concurrent_with_args``."""

    def __init__(self, session: Any, registry: Registry, keyspace_prefix: str, now_us: int,
                 concurrency: int = 128) -> None:
        self.session = session
        self.now_us = now_us
        self.concurrency = concurrency
        self.nodes = {n: NodeNamespace.for_type(keyspace_prefix, t)
                      for n, t in registry.nodes.items()}
        self.edges = {n: EdgeNamespace.for_type(keyspace_prefix, t, WIDE_EDGES)
                      for n, t in registry.edges.items()}
        self._tables = {t.qualified: t for ns in self.nodes.values() for t in ns.tables}
        self._tables.update((t.qualified, t) for ns in self.edges.values()
                            for t in ns.schema_tables)  # with the time index
        self._prepared: dict[tuple[str, tuple[str, ...]], Any] = {}

    def load(self, upserts: Iterable[Upsert]) -> Load:
        """Plan and send every upsert, ``CHUNK_STATEMENTS`` at a time."""
        load = Load()
        planned = 0
        started = time.perf_counter()
        for upsert in upserts:
            if isinstance(upsert, NodeUpsert):
                writes = plan_node(self.nodes[upsert.type].nodes, upsert, self.now_us)
            else:
                writes = plan_edge(self.edges[upsert.type], upsert, self.now_us)
            load.upserts += 1
            for w in writes:
                load.groups.setdefault((w.table.qualified, w.columns), []).append(w.params)
            planned += len(writes)
            if planned >= CHUNK_STATEMENTS:
                load.plan_seconds += time.perf_counter() - started
                self._send(load)
                planned, started = 0, time.perf_counter()
        load.plan_seconds += time.perf_counter() - started
        self._send(load)
        return load

    def _send(self, load: Load) -> None:
        from cassandra.concurrent import execute_concurrent_with_args

        statements = {key: self._prepare(*key) for key in load.groups}  # before the clock
        started = time.perf_counter()
        for key, params in load.groups.items():
            results = execute_concurrent_with_args(
                self.session, statements[key], params, concurrency=self.concurrency,
                raise_on_first_error=False, results_generator=True)
            load.failed += sum(1 for ok, _ in results if not ok)
            load.statements += len(params)
        load.seconds += time.perf_counter() - started
        load.groups.clear()

    def _prepare(self, table: str, columns: tuple[str, ...]) -> Any:
        key = (table, columns)
        if key not in self._prepared:
            self._prepared[key] = self.session.prepare(self._tables[table].update_cql(columns))
        return self._prepared[key]


def flatten(batches: Sequence[Sequence[Upsert]]) -> Iterator[Upsert]:
    for batch in batches:
        yield from batch
