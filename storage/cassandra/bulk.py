"""Bulk backfill into Cassandra: the store's own row writes, as SSTables, imported.

The rows include the derived tables the planners fill (the time index, a wide side's
bucket directory: ``writes.plan_edge``, ``plan_history_writes``), so a bulk-loaded
graph reads as a streamed one.

Upserts are planned by the store itself (``CassandraGraphStore.plan_nodes`` /
``plan_edges``: the same rows, ``USING TIMESTAMP`` = event time, TTL, as the
driver path sends), so Cassandra's last-write-wins per cell merges them into the
graph the driver path makes. Instead of statements, the rows go as JSON lines
(:class:`RowEncoder`) to a Java process (``infra/bulk/SSTableLoaderMain.java``)
that writes them with Cassandra's ``CQLSSTableWriter``, one writer per table, and
on "end" imports each table's SSTables into the live table (``nodetool import``
through JMX). Planning here and writing there overlap over the pipe.

Each table gets one UPDATE of all its columns; a write of fewer columns leaves the
others unset (no cell), as the driver's own narrower statement does. A write of a
column the table does not declare gets a table writer of its own.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Upsert
from fleetgraph.graph_model.types import Registry
from fleetgraph.storage.base import StorageError, StorageUnavailable
from fleetgraph.storage.bulk import BulkReport, BulkTools
from fleetgraph.storage.cassandra.schema import Table
from fleetgraph.storage.cassandra.store import CassandraGraphStore
from fleetgraph.storage.cassandra.writes import (
    Write,
    distinct_entries,
    plan_edge,
    plan_history_writes,
    plan_node,
)
from fleetgraph.storage.config import CassandraConfig
from fleetgraph.storage.history import Write as HistoryWrite

ROWS_PER_MESSAGE = 2000  # rows of one statement in one JSON line
TTL_TYPE, TIMESTAMP_TYPE = "int", "bigint"  # the types of USING TTL ? AND TIMESTAMP ?


def column_types(table: Table) -> dict[str, str]:
    """The CQL type of every column of ``table``, keys included."""
    types = {c: table.key_type(c) for c in table.key_columns}
    types.update(table.value_columns)
    types.update(table.meta_columns)
    return types


class RowEncoder:
    """Writes as the JSON lines the Java writer reads (see its header comment):
    a ``table`` line the first time a table (and column set) is met, a ``stmt``
    line the first time a (table, columns) statement is, then ``rows`` lines of the
    statements' bind values, ``ROWS_PER_MESSAGE`` at a time."""

    def __init__(self, rows_per_message: int = ROWS_PER_MESSAGE) -> None:
        self.rows_per_message = rows_per_message
        self._tables: dict[tuple[str, tuple[str, ...]], int] = {}
        self._statements: dict[tuple[str, tuple[str, ...]], int] = {}
        self._pending: dict[int, list[tuple[Any, ...]]] = {}
        self.rows = 0

    def add(self, writes: Iterable[Write]) -> list[bytes]:
        """Lines to send for ``writes``: declarations at once, rows when a full
        message of one statement has gathered."""
        out: list[bytes] = []
        statements, pending = self._statements, self._pending
        for write in writes:
            key = (write.table.qualified, write.columns)
            sid = statements.get(key)
            if sid is None:
                sid = self._declare(write.table, write.columns, out)
            rows = pending[sid]
            rows.append(write.params)
            if len(rows) >= self.rows_per_message:
                out.append(orjson.dumps(["rows", sid, rows]) + b"\n")
                self.rows += len(rows)
                pending[sid] = []
        return out

    def flush(self) -> list[bytes]:
        """Lines of every row still gathered."""
        out = [orjson.dumps(["rows", sid, rows]) + b"\n"
               for sid, rows in self._pending.items() if rows]
        self.rows += sum(len(rows) for rows in self._pending.values())
        self._pending = {sid: [] for sid in self._pending}
        return out

    def close(self, tables: Iterable[str]) -> list[bytes]:
        """Lines of every row still gathered for these tables (qualified names), then
        their close: no row of theirs may follow."""
        names = set(tables)
        sids = {sid for (table, _), sid in self._statements.items() if table in names}
        out = [orjson.dumps(["rows", sid, self._pending[sid]]) + b"\n"
               for sid in sorted(sids) if self._pending[sid]]
        self.rows += sum(len(self._pending[sid]) for sid in sids)
        self._pending.update((sid, []) for sid in sids)
        tids = sorted(tid for (table, _), tid in self._tables.items() if table in names)
        if tids:
            out.append(orjson.dumps(["close", tids]) + b"\n")
        return out

    @staticmethod
    def end() -> bytes:
        return b'["end"]\n'

    def _declare(self, table: Table, columns: tuple[str, ...], out: list[bytes]) -> int:
        types = column_types(table)
        unknown = [c for c in columns if c not in types]
        if unknown:
            raise StorageError(f"{table.qualified} has no column(s) {', '.join(unknown)}")
        declared = tuple(c for c, _ in (*table.value_columns, *table.meta_columns))
        full = declared if set(columns) <= set(declared) else columns
        tid = self._tables.get((table.qualified, full))
        using = [TTL_TYPE, TIMESTAMP_TYPE] if table.ttl_seconds else [TIMESTAMP_TYPE]
        if tid is None:
            tid = self._tables[(table.qualified, full)] = len(self._tables)
            binds = [*using, *(types[c] for c in full), *(types[c] for c in table.key_columns)]
            out.append(orjson.dumps(["table", tid, table.keyspace, table.name,
                                     table.create_cql(), table.update_cql(full), binds]) + b"\n")
        at = {c: i for i, c in enumerate(full)}
        u, keys = len(using), len(table.key_columns)
        positions = [*range(u), *(u + at[c] for c in columns),
                     *(u + len(full) + k for k in range(keys))]
        sid = self._statements[(table.qualified, columns)] = len(self._statements)
        out.append(orjson.dumps(["stmt", sid, tid, positions]) + b"\n")
        self._pending[sid] = []
        return sid


class CassandraBulkLoad:
    """A bulk load into the Cassandra store of ``store``'s config (its schema made or
    migrated when opened): rows planned here, written and imported by the Java writer
    ``tools.command`` started as a child process."""

    def __init__(self, store: CassandraGraphStore, tools: BulkTools, work_dir: Path,
                 clock: Callable[[], int] = wall_clock_us, *, owns_store: bool = False) -> None:
        """``owns_store``: close ``store`` when finished or aborted (``open`` does)."""
        self.store = store
        self.owns_store = owns_store
        self.tools = tools
        self.clock = clock
        self.encoder = RowEncoder()
        self.upserts = 0
        self.history_writes = 0
        work_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = work_dir / f"sstables-{time.strftime('%Y%m%dT%H%M%S')}-{id(self):x}"
        self.out_dir.mkdir()
        self.summary = self.out_dir / "summary.json"
        command = [*tools.command, "--out", str(self.out_dir), "--summary", str(self.summary)]
        if tools.jmx:
            command += ["--jmx", tools.jmx]
        self._cpu_before = _children_cpu()
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                            stdout=subprocess.DEVNULL)
        except OSError as exc:
            raise StorageUnavailable(f"cannot start the bulk writer {command[0]}: {exc}") from exc
        assert self.process.stdin is not None
        self._pipe: IO[bytes] = self.process.stdin

    @classmethod
    def open(cls, config: CassandraConfig, tools: BulkTools, work_dir: Path, *,
             registry: Registry, clock: Callable[[], int] = wall_clock_us) -> CassandraBulkLoad:
        store = CassandraGraphStore(registry, config, schema="init", clock=clock)
        try:
            return cls(store, tools, work_dir, clock, owns_store=True)
        except BaseException:
            store.close()
            raise

    def write(self, upserts: Sequence[Upsert]) -> None:
        """Plan the batch (a refusal raises StorageError before anything is sent)
        and send its rows."""
        now = self.clock()
        nodes = [u for u in upserts if isinstance(u, NodeUpsert)]
        edges = [u for u in upserts if isinstance(u, EdgeUpsert)]
        writes = self.store.plan_nodes(nodes, now) + self.store.plan_edges(edges, now)
        self._send(self.encoder.add(writes))
        self.upserts += len(upserts)

    def write_copy(self, upserts: Sequence[Upsert]) -> None:
        """Send the rows of records copied from another store as they are (the bulk
        copy, ``fleetgraph.storage.bulk.copy_embedded``): the live tables and the time
        index, no history rows (the source's history comes with ``write_history``)."""
        now = self.clock()
        spaces, writes = self.store.type_namespaces, []
        for u in upserts:
            if isinstance(u, NodeUpsert):
                writes += plan_node(spaces.node(u.type).nodes, u, now)
            else:
                writes += plan_edge(spaces.edge(u.type), u, now)
        self._send(self.encoder.add(distinct_entries(writes)))
        self.upserts += len(upserts)

    def close_type(self, node: bool, type_name: str) -> None:
        """No more rows of this node or edge type (live, history, time index): the
        writer writes out its tables and frees their buffers."""
        spaces = self.store.type_namespaces
        tables = (spaces.node(type_name).tables if node
                  else spaces.edge(type_name).schema_tables)
        self._send(self.encoder.close(t.qualified for t in tables))

    def write_history(self, edge_type: str, kept: Sequence[HistoryWrite]) -> None:
        """Send the history rows of these writes of ``edge_type`` (as another store
        kept them)."""
        writes = plan_history_writes(self.store.type_namespaces.edge(edge_type), kept, self.clock())
        self._send(self.encoder.add(distinct_entries(writes)))
        self.history_writes += len(kept)

    def finish(self) -> BulkReport:
        """Send what is left and "end", wait for the writer to write and import."""
        try:
            self._send([*self.encoder.flush(), self.encoder.end()])
            self._pipe.close()
        except StorageError:
            self.abort()
            raise
        code = self.process.wait()
        cpu = _children_cpu() - self._cpu_before
        self._close_store()
        if code != 0 or not self.summary.exists():
            raise StorageError(f"the bulk writer failed (exit {code}); its SSTables, if "
                               f"any, are in {self.out_dir}")
        summary = json.loads(self.summary.read_text())
        tables = summary["tables"]
        failed = [d for t in tables for d in t.get("failed", [])]
        if failed:
            raise StorageError(f"Cassandra refused to import {len(failed)} folder(s) of "
                               f"SSTables, first {failed[0]}; they are kept in {self.out_dir}")
        report = BulkReport(
            upserts=self.upserts, history_writes=self.history_writes,
            rows=sum(int(t["rows"]) for t in tables),
            tables=len(tables), sstables=sum(int(t["sstables"]) for t in tables),
            write_seconds=float(summary["write_seconds"]),
            import_seconds=float(summary["import_seconds"]), helper_cpu_seconds=cpu,
            imported=bool(summary["imported"]), sstable_dir=self.out_dir, details=tables)
        if report.imported:
            shutil.rmtree(self.out_dir, ignore_errors=True)
        return report

    def abort(self) -> None:
        """Stop the writer; nothing is imported (it imports only after "end")."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close_store()
        shutil.rmtree(self.out_dir, ignore_errors=True)

    def _close_store(self) -> None:
        if self.owns_store:
            self.store.close()

    def _send(self, lines: list[bytes]) -> None:
        if not lines:
            return
        try:
            self._pipe.write(b"".join(lines))
        except (BrokenPipeError, OSError) as exc:
            code = self.process.poll()
            raise StorageUnavailable(f"the bulk writer stopped (exit {code}): {exc}") from exc


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
