"""GraphStore on SQLite (standard library), one file, one table per type."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.records import (
    EdgeRecord,
    EdgeUpsert,
    NodeRecord,
    NodeUpsert,
    Origin,
    Provenance,
)
from fleetgraph.graph_model.types import PropKind, Registry
from fleetgraph.storage.base import (
    Direction,
    GraphStore,
    Layout,
    Page,
    SchemaMode,
    StorageError,
    StorageUnavailable,
    TimeWindow,
    group_by_type,
)
from fleetgraph.storage.embedded import read_models
from fleetgraph.storage.embedded.tables import (
    META_COLUMNS,
    SPAN_COLUMN,
    SQL_TYPE,
    HistoryTable,
    Table,
)
from fleetgraph.storage.history import Write, merge, writes_of

IN_CHUNK = 500  # ids per "IN (...)" query, below SQLite's variable limit
SIDE_INPUT_TABLE = "side_input"  # facts of the ingest side inputs (not a graph namespace)
FILE_CHECK_S = 1.0  # how often reads look whether the store's file was replaced
CREATED = re.compile(r"CREATE (?:TABLE|INDEX) IF NOT EXISTS (\w+)")  # what a statement makes


@contextlib.contextmanager
def sqlite_errors(failure: str) -> Iterator[None]:
    """The one place SQLite's errors become the store's: an OperationalError (the file
    is locked, busy, unreadable, full or gone: SQLite's class for failures of the
    database rather than of the statement's values) raises StorageUnavailable, any other
    sqlite3.Error StorageError; the original is the ``__cause__``."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StorageUnavailable(f"{failure}: {exc}") from exc
    except sqlite3.Error as exc:
        raise StorageError(f"{failure}: {exc}") from exc


class SQLiteGraphStore(GraphStore):
    """The embedded store. ``path=":memory:"`` keeps it in memory.

    The schema is made or migrated at construction (``schema="init"``, the
    default); ``"check"`` raises StorageError unless the file already holds it,
    ``"trust"`` leaves the file as found (``fleetgraph storage describe``).
    ``cache_mib``: SQLite's page cache of the connection (``FLEETGRAPH_SQLITE_CACHE_MIB``).
    """

    def __init__(
        self,
        registry: Registry,
        path: str | Path = ":memory:",
        *,
        clock: Callable[[], int] = wall_clock_us,
        file_check_s: float = FILE_CHECK_S,
        schema: SchemaMode = "init",
        cache_mib: int = 64,
    ) -> None:
        self.registry = registry
        self.path = str(path)
        self._cache_mib = cache_mib
        self._clock = clock
        self._lock = threading.RLock()
        self._file = StoreFile(self.path, file_check_s)
        self._db = self._connect()
        self._nodes = {name: Table.for_node(t) for name, t in registry.nodes.items()}
        self._edges = {name: Table.for_edge(t) for name, t in registry.edges.items()}
        self._history = {
            name: HistoryTable.for_edge(t) for name, t in registry.edges.items() if t.keeps_history
        }
        self._node_rows = {name: RowLayout(t) for name, t in self._nodes.items()}
        self._edge_rows = {name: RowLayout(t) for name, t in self._edges.items()}
        self._upsert_sql = {t.name: t.upsert_sql() for t in self.tables}
        self._upsert_sql.update({h.name: h.insert_sql() for h in self.history_tables})
        self._schema = schema
        self.rows_read = 0  # adjacency rows neighbours fetched, for tests
        try:
            if schema == "init":
                self.init_schema()
            elif schema == "check":
                self.check_schema()
        except BaseException:
            self._db.close()
            raise

    @property
    def tables(self) -> list[Table]:
        return [*self._nodes.values(), *self._edges.values()]

    @property
    def history_tables(self) -> list[HistoryTable]:
        """The history namespaces, one per edge type with a live TTL."""
        return list(self._history.values())

    def init_schema(self) -> list[str]:
        """Create missing tables and indexes, add columns for newly declared
        properties; returns the statements that ran."""
        with self._lock, sqlite_errors(f"cannot make the embedded store's schema at {self.path}"):
            statements = self._plan_schema()
            with self._db:
                for statement in statements:
                    self._db.execute(statement)
            return statements

    def check_schema(self) -> None:
        """Raise StorageError unless every table is there as the registry says."""
        with self._lock, sqlite_errors(f"cannot read the embedded store's schema at {self.path}"):
            missing = self._plan_schema()
        if missing:
            raise StorageError(
                f"the embedded store at {self.path} does not match the registry; open it "
                f"with schema='init'. First of {len(missing)}: {missing[0]}")

    def _plan_schema(self) -> list[str]:
        """The statements that bring the file up to the registry, in order."""
        have = self._existing()
        planned: list[str] = []
        for table in self.tables:
            if table.name in have:
                columns = self._columns(table.name)
                planned += [f"ALTER TABLE {table.name} ADD COLUMN {column} {sql_type}"
                            for column, sql_type in table.prop_columns if column not in columns]
                # a store of the layout before the span classes: the generated column
                # (computed on read, nothing rewritten), then its index below
                if table.temporal and SPAN_COLUMN[0] not in columns:
                    planned.append(f"ALTER TABLE {table.name} ADD COLUMN {' '.join(SPAN_COLUMN)}")
            planned += [sql for sql in table.create_sql() if _created(sql) not in have]
            planned += [f"DROP INDEX {name}" for name in table.retired_indexes() if name in have]
        for history in self.history_tables:
            planned += [sql for sql in history.create_sql() if _created(sql) not in have]
            if history.name in have:
                columns = self._columns(history.name)
                planned += [f"ALTER TABLE {history.name} ADD COLUMN p_{prop.name} "
                            f"{SQL_TYPE[prop.kind]}"
                            for prop in history.props if f"p_{prop.name}" not in columns]
        if SIDE_INPUT_TABLE not in have:
            planned.append(
                f"CREATE TABLE IF NOT EXISTS {SIDE_INPUT_TABLE} (name TEXT NOT NULL, "
                "fact TEXT NOT NULL, PRIMARY KEY (name, fact)) WITHOUT ROWID")
        if read_models.READ_MODEL_TABLE not in have:
            planned.append(read_models.CREATE_SQL)
        return planned

    def _existing(self) -> set[str]:
        """The tables and indexes in the file."""
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
        return {row[0] for row in rows}

    def _columns(self, table: str) -> set[str]:
        # table_xinfo: generated columns too (table_info leaves them out)
        return {row[1] for row in self._db.execute(f"PRAGMA table_xinfo({table})")}

    def _connect(self) -> sqlite3.Connection:
        with sqlite_errors(f"cannot open the embedded store at {self.path}"):
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA cache_size=-{int(self._cache_mib) * 1024}")  # in KiB
        self._file.opened()
        return db

    def _follow_file(self) -> None:
        """Reopen the store when its file was replaced (``ingest --fresh`` of an old
        version, a copy put in place); raise when it was removed."""
        if not self._file.replaced():
            return
        self._db.close()
        self._db = self._connect()
        if self._schema == "init":
            self.init_schema()

    # --- maintenance of the whole store -------------------------------------
    def reset(self) -> None:
        """Delete every row, graph and side inputs, in one transaction: the file stays,
        so a server reading it sees an empty store, then what is ingested next."""
        names = [table.name for table in self.tables]
        names += [history.name for history in self.history_tables] + [SIDE_INPUT_TABLE]
        names.append(read_models.READ_MODEL_TABLE)
        self._in_transaction(
            lambda db: [db.execute(f"DELETE FROM {name}") for name in names],
            "cannot empty the embedded store")

    # --- side inputs --------------------------------------------------------
    def side_input_facts(self, name: str) -> list[str]:
        """The facts stored for one side input (``topology``), in a stable order."""
        rows = self._query(
            f"SELECT fact FROM {SIDE_INPUT_TABLE} WHERE name = ? ORDER BY fact", [name])
        return [row[0] for row in rows]

    def add_side_input_facts(self, name: str, facts: Iterable[str]) -> None:
        """Add facts to a side input; facts already there are kept once."""
        self._in_transaction(
            lambda db: db.executemany(
                f"INSERT OR IGNORE INTO {SIDE_INPUT_TABLE} (name, fact) VALUES (?, ?)",
                ((name, fact) for fact in facts)),
            f"cannot store the {name} side input")

    # --- read models (storage/embedded/read_models.py) ---------------------
    def put_read_models(self, model: str, rows: Mapping[str, str | None]) -> None:
        self._in_transaction(lambda db: read_models.put_rows(db, model, rows),
                             f"cannot store the {model} read model")

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        with self._lock:
            self._follow_file()
            with sqlite_errors(f"cannot read the {model} read model"):
                return read_models.get_rows(self._db, model, keys)

    def _in_transaction(self, work: Callable[[sqlite3.Connection], object], failure: str) -> None:
        with self._lock, sqlite_errors(failure):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                work(self._db)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    # --- writes -------------------------------------------------------------
    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        by_table: dict[str, list[tuple[Any, ...]]] = {}
        layouts = self._node_rows
        for n in nodes:
            layout = layouts.get(n.type)
            if layout is None:
                self._node_table(n.type)  # raises: no such namespace
                continue
            rows = by_table.get(layout.table)
            if rows is None:
                rows = by_table[layout.table] = []
            rows.append(layout.row((n.id,), n))
        self._write(by_table)

    def upsert_edges(self, edges: Sequence[EdgeUpsert]) -> None:
        by_table: dict[str, list[tuple[Any, ...]]] = {}
        layouts, kept = self._edge_rows, self._history
        for e in edges:
            layout = layouts.get(e.type)
            if layout is None:
                self._edge_table(e.type)  # raises: no such namespace
                continue
            rows = by_table.get(layout.table)
            if rows is None:
                rows = by_table[layout.table] = []
            rows.append(layout.row((e.from_id, e.to_id), e))
            history = kept.get(e.type)
            if history is not None:
                by_table.setdefault(history.name, []).extend(
                    history_values(history, w) for w in writes_of(e))
        self._write(by_table)

    def _write(self, by_table: dict[str, list[tuple[Any, ...]]]) -> None:
        """One transaction: all rows or none, whatever the exception.

        A file that cannot be written (locked, full, gone) raises
        StorageUnavailable; a value SQLite cannot hold (an int beyond 64 bits, a
        type it cannot bind) raises StorageError: the batch is refused, the
        store is as before and takes the next write.
        """
        if not by_table:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN")
                for name, rows in by_table.items():
                    self._db.executemany(self._upsert_sql[name], rows)
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._roll_back()
                if isinstance(exc, sqlite3.OperationalError):
                    raise StorageUnavailable(
                        f"cannot write to the embedded store at {self.path}: {exc}") from exc
                if isinstance(exc, Exception):
                    raise StorageError(
                        f"the embedded store refused a write: {type(exc).__name__}: {exc}"
                    ) from exc
                raise

    def _roll_back(self) -> None:
        """End the write's transaction, if one is open, without its changes."""
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # a connection that cannot roll back has no transaction to keep

    # --- reads --------------------------------------------------------------
    def get_nodes(self, ids: Sequence[str]) -> dict[str, NodeRecord]:
        found: dict[str, NodeRecord] = {}
        for node_type, type_ids in group_by_type(ids).items():
            table = self._nodes.get(node_type)
            if table is None:
                continue  # an id of an unknown type names nothing stored
            for chunk in _chunks(type_ids):
                sql = (
                    f"SELECT {table.select_columns()} FROM {table.name} "
                    f"WHERE id IN ({_marks(chunk)}){self._live(table)}"
                )
                for row in self._query(sql, chunk):
                    props, origin = _unpack(table, row, 1)
                    found[row[0]] = NodeRecord(node_type, row[0], props, origin)
        return found

    def window_reads_follow_the_window(self) -> bool:
        return True  # the span index (tables.py)

    def neighbours(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        window: TimeWindow | None = None,
    ) -> dict[str, list[EdgeRecord]]:
        table = self._edge_table(edge_type)
        near, far = ("from_id", "to_id") if direction is Direction.OUT else ("to_id", "from_id")
        temporal = self.registry.edge(edge_type).temporal
        result: dict[str, list[EdgeRecord]] = {node_id: [] for node_id in ids}
        for chunk in _chunks(list(result)):
            sql, params = table.adjacency_sql(
                near, far, chunk, window if temporal else None, self._live(table))
            rows = self._query(sql, params)
            self.rows_read += len(rows)
            for row in rows:
                props, origin = _unpack(table, row, 2)
                record = EdgeRecord(edge_type, row[0], row[1], props, origin)
                result[row[0] if direction is Direction.OUT else row[1]].append(record)
        history = self._history.get(edge_type)
        if history is None or window is None or table.ttl_seconds is None:
            return result
        writes = self._history_writes(history, list(result), near)
        return merge(edge_type, result, writes, direction, window,
                     table.ttl_seconds * 1_000_000, self._clock())

    def neighbour_ids(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        *,
        recorded_by: int | None = None,
        window: TimeWindow | None = None,
    ) -> dict[str, list[str]]:
        """The two id columns only: from the in-index (``to_id, from_id``) or the primary
        key (``from_id, to_id``), with the live and ``_created_at`` filters in SQL. A
        temporal type with a window: for a type with history and a window open on both
        sides (every interval, history included), the pairs of the live rows and of the
        history writes; any other window, the intervals (``neighbours``) projected."""
        table = self._edge_table(edge_type)
        history = self._history.get(edge_type)
        pairs_of_history = (window is not None and window.start is None
                            and window.end is None and recorded_by is None
                            and history is not None and table.ttl_seconds is not None)
        if window is not None and table.temporal and not pairs_of_history:
            return super().neighbour_ids(edge_type, ids, direction, recorded_by=recorded_by,
                                         window=window)
        near, far = ("from_id", "to_id") if direction is Direction.OUT else ("to_id", "from_id")
        result: dict[str, list[str]] = {node_id: [] for node_id in ids}
        created = "" if recorded_by is None else f" AND _created_at <= {int(recorded_by)}"
        for chunk in _chunks(list(result)):
            marks = _marks(chunk)
            sql = (f"SELECT {near}, {far} FROM {table.name} WHERE {near} IN ({marks})"
                   f"{self._live(table)}{created}")
            params: list[Any] = list(chunk)
            if pairs_of_history and history is not None:
                sql += (f" UNION SELECT {near}, {far} FROM {history.name} "
                        f"WHERE {near} IN ({marks})")
                params += chunk
                if history.retention_seconds is not None:
                    sql += " AND ts > ?"
                    params.append(self._clock() - history.retention_seconds * 1_000_000)
                sql += " ORDER BY 1, 2"
            else:
                sql += f" ORDER BY {near}, {far}"
            rows = self._query(sql, params)
            self.rows_read += len(rows)
            for near_id, far_id in rows:
                result[near_id].append(far_id)
        return result

    def node_values(self, ids: Sequence[str], prop: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for node_type, type_ids in group_by_type(ids).items():
            table = self._nodes.get(node_type)
            if table is None:
                continue  # an id of an unknown type names nothing stored
            kind = next((p.kind for p in table.props if p.name == prop), None)
            value = "NULL" if kind is None else f"p_{prop}"
            for chunk in _chunks(type_ids):
                sql = (f"SELECT id, {value} FROM {table.name} "
                       f"WHERE id IN ({_marks(chunk)}){self._live(table)}")
                rows = self._query(sql, chunk)
                if kind is PropKind.BOOL:
                    found.update((i, None if v is None else bool(v)) for i, v in rows)
                else:
                    found.update(rows)
        return found

    def _history_writes(
        self, history: HistoryTable, ids: list[str], near: str
    ) -> dict[str, list[Write]]:
        """The history writes of ``ids`` (from the ``near`` end) within the retention,
        in event time order."""
        found: dict[str, list[Write]] = {}
        for chunk in _chunks(ids):
            sql = (f"SELECT {', '.join(history.columns)} FROM {history.name} "
                   f"WHERE {near} IN ({_marks(chunk)})")
            params: list[Any] = list(chunk)
            if history.retention_seconds is not None:
                sql += " AND ts > ?"
                params.append(self._clock() - history.retention_seconds * 1_000_000)
            for row in self._query(sql + f" ORDER BY {near}, ts", params):
                write = history_write(history, row)
                found.setdefault(write.from_id if near == "from_id" else write.to_id,
                                 []).append(write)
        return found

    def scan_nodes(self, node_type: str, after: str | None, limit: int) -> Page:
        table = self._node_table(node_type)
        sql = f"SELECT {table.select_columns()} FROM {table.name} WHERE id > ?{self._live(table)}"
        sql += " ORDER BY id LIMIT ?"
        rows = self._query(sql, [after or "", limit + 1])
        records = []
        for row in rows[:limit]:
            props, origin = _unpack(table, row, 1)
            records.append(NodeRecord(node_type, row[0], props, origin))
        next_after = records[-1].id if len(rows) > limit and records else None
        return Page(records, next_after)

    def count(self, namespace: str) -> int:
        """Rows in one namespace (``node_<type>`` or ``edge_<type>``), or history writes
        kept for an edge type (``hist_<type>``), or rows of a read model
        (``read_model_<model>``)."""
        if namespace.startswith(read_models.NAMESPACE_PREFIX):
            model = namespace.removeprefix(read_models.NAMESPACE_PREFIX)
            with self._lock, sqlite_errors(f"cannot count the {model} read model"):
                return read_models.count_rows(self._db, model)
        if namespace not in self._upsert_sql:
            raise StorageError(f"no namespace {namespace!r}")
        return int(self._query(f"SELECT count(*) FROM {namespace}", [])[0][0])

    def describe(self) -> Layout:
        """The tables with their rows; for an edge type with a live TTL, the TTL and its
        history table's writes and retention. A table not made yet has no rows."""
        with self._lock:
            self._follow_file()
            with sqlite_errors(f"cannot read the embedded store's schema at {self.path}"):
                have = self._existing()

        def rows(name: str) -> int:
            return self.count(name) if name in have else 0

        lines: list[str] = []
        history = {h.name.removeprefix("hist_"): h for h in self.history_tables}
        for table in self.tables:
            lines.append(f"{table.name:<24} {rows(table.name):>12,} rows")
            kept = history.get(table.name.removeprefix("edge_"))
            if table.ttl_seconds and kept is not None:
                retention = kept.retention_seconds
                lines.append(f"  live ttl {table.ttl_seconds} s; history {kept.name}: "
                             f"{rows(kept.name):,} writes, retention "
                             f"{'forever' if retention is None else f'{retention} s'}")
        if read_models.READ_MODEL_TABLE in have:
            with self._lock, sqlite_errors("cannot describe the read models"):
                lines += read_models.describe_lines(self._db)
        return Layout(tuple(t.name for t in self.tables if t.name in have), tuple(lines),
                      f"{len(self.tables)} namespaces in {self.path}")

    # --- maintenance --------------------------------------------------------
    def expire(self, now_us: int) -> int:
        """Delete live rows past their TTL and history rows past their retention."""
        horizons = [(t.name, "_ts", t.ttl_seconds) for t in self.tables]
        horizons += [(h.name, "ts", h.retention_seconds) for h in self.history_tables]
        deleted = 0
        with self._lock, sqlite_errors(f"expiry in the embedded store at {self.path} failed"):
            for name, time_column, seconds in horizons:
                if seconds is not None:
                    cursor = self._db.execute(f"DELETE FROM {name} WHERE {time_column} <= ?",
                                              (now_us - seconds * 1_000_000,))
                    deleted += cursor.rowcount
        return deleted

    def dump(self) -> Iterator[tuple[str, tuple[object, ...]]]:
        for table in sorted(self.tables, key=lambda t: t.name):
            columns = ", ".join(table.all_columns)
            order = ", ".join(table.key_columns)
            for row in self._query(f"SELECT {columns} FROM {table.name} ORDER BY {order}", []):
                yield table.name, tuple(row)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- helpers ------------------------------------------------------------
    def _node_table(self, node_type: str) -> Table:
        try:
            return self._nodes[node_type]
        except KeyError:
            raise StorageError(f"no namespace for node type {node_type!r}") from None

    def _edge_table(self, edge_type: str) -> Table:
        try:
            return self._edges[edge_type]
        except KeyError:
            raise StorageError(f"no namespace for edge type {edge_type!r}") from None

    def _live(self, table: Table) -> str:
        if table.ttl_seconds is None:
            return ""
        return f" AND _ts > {self._clock() - table.ttl_seconds * 1_000_000}"

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            self._follow_file()
            with sqlite_errors("read from the embedded store failed"):
                return self._db.execute(sql, params).fetchall()


def row_values(
    table: Table,
    key: tuple[str, ...],
    props: dict[str, Any],
    ts: int,
    upsert: NodeUpsert | EdgeUpsert,
) -> tuple[Any, ...]:
    """The row of an upsert in ``table``, one property at a time (the store writes
    through :class:`RowLayout`, which gives the same)."""
    values: list[Any] = list(key)
    prop_ts = upsert.prop_ts or {}
    for prop in table.props:
        if prop.name in props:
            values.append(props[prop.name])
            values.append(prop_ts.get(prop.name, ts))
        else:
            values.append(None)
            values.append(None)
    p: Provenance = upsert.provenance
    created_at, created_by = upsert.created or (ts, p.event_id)
    values += [ts, p.event_id, p.source, p.event_time, p.writer, created_at, created_by]
    return tuple(values)


class RowLayout:
    """Where each value of an upsert goes in a row of one table, worked out once per
    table: a row starts empty and only the properties the upsert sets are placed
    (an upsert sets a few of its table's properties). Gives what ``row_values`` gives."""

    __slots__ = ("keys", "meta", "slots", "table", "width")

    def __init__(self, table: Table) -> None:
        self.table = table.name
        self.keys = len(table.key_columns)
        self.slots = {prop.name: self.keys + 2 * i for i, prop in enumerate(table.props)}
        self.meta = self.keys + 2 * len(table.props)
        self.width = self.meta + len(META_COLUMNS)

    def row(self, key: tuple[str, ...], upsert: NodeUpsert | EdgeUpsert) -> tuple[Any, ...]:
        values: list[Any] = [None] * self.width
        values[:self.keys] = key
        ts, prop_ts, slots = upsert.ts, upsert.prop_ts, self.slots
        for name, value in upsert.props.items():
            i = slots.get(name)
            if i is not None:
                values[i] = value
                values[i + 1] = ts if prop_ts is None else prop_ts.get(name, ts)
        p = upsert.provenance
        created_at, created_by = upsert.created or (ts, p.event_id)
        values[self.meta:] = (ts, p.event_id, p.source, p.event_time, p.writer,
                              created_at, created_by)
        return tuple(values)


def history_values(history: HistoryTable, write: Write) -> tuple[Any, ...]:
    """A history row: key, the values set, which properties were set, provenance."""
    p = write.provenance
    values = [write.props.get(prop.name) for prop in history.props]
    return (write.from_id, write.to_id, write.ts, p.event_id, *values,
            ",".join(sorted(write.props)), p.source, p.event_time, p.writer)


def history_write(history: HistoryTable, row: Sequence[Any]) -> Write:
    from_id, to_id, ts, event_id = row[:4]
    m = 4 + len(history.props)
    written, source, event_time, writer = row[m : m + 4]
    props = {name: row[i] if not boolean or row[i] is None else bool(row[i])
             for i, name, boolean in history.written_columns(written)}
    return Write(from_id, to_id, ts, props, Provenance(event_id, source, event_time, writer))


def _unpack(table: Table, row: Sequence[Any], offset: int) -> tuple[dict[str, Any], Origin]:
    props: dict[str, Any] = {}
    for i, prop in enumerate(table.props):
        value = row[offset + i]
        if value is not None:
            props[prop.name] = bool(value) if prop.kind is PropKind.BOOL else value
    m = offset + len(table.props)
    ts, event_id, source, event_time, writer, created_at, created_by = row[m : m + 7]
    origin = Origin(created_at, created_by, ts, Provenance(event_id, source, event_time, writer))
    return props, origin


def _created(statement: str) -> str:
    """The table or index a ``CREATE ... IF NOT EXISTS`` statement makes."""
    made = CREATED.match(statement)
    assert made is not None, statement
    return made.group(1)


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), IN_CHUNK):
        yield ids[i : i + IN_CHUNK]


def _marks(chunk: Sequence[str]) -> str:
    return ",".join("?" * len(chunk))


class StoreFile:
    """Which file a store opened (device and inode), to notice it being replaced.

    ``replaced`` looks at most once every ``check_s`` seconds, so reads cost
    one ``stat`` a second at most; an in-memory store is never replaced.
    """

    def __init__(self, path: str, check_s: float) -> None:
        self.path = path
        self.check_s = check_s
        self._identity: tuple[int, int] | None = None
        self._checked_at = 0.0

    def opened(self) -> None:
        self._identity = self._stat()
        self._checked_at = time.monotonic()

    def replaced(self) -> bool:
        """True when the path names another file than the one opened; raises when
        there is no file any more."""
        if self._identity is None:
            return False
        now = time.monotonic()
        if now - self._checked_at < self.check_s:
            return False
        self._checked_at = now
        identity = self._stat()
        if identity is None:
            self._checked_at = 0.0  # look again on the next read
            raise StorageError(
                f"the embedded store's file {self.path} was removed while open: "
                "ingest again, then restart whatever reads it")
        return identity != self._identity

    def _stat(self) -> tuple[int, int] | None:
        if self.path == ":memory:" or self.path.startswith("file:"):
            return None
        try:
            stat = Path(self.path).stat()
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino
