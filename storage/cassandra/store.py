"""GraphStore on Cassandra: a keyspace per node type and per edge type.

Writes are single-row UPDATEs at the event time (``USING TIMESTAMP``), sent
concurrently; the statements of one partition in one call travel as one
unlogged single-partition batch, and such batches are packed across partitions
when every node is a replica of every row (README.md). Reads are prepared SELECTs run
concurrently: while every node is a replica of every row, one names many partitions
(partition_reads.py); otherwise one a partition, token-aware routed. A read of a wide
side asks its bucket directory first and then only the buckets it lists (unless one
SELECT names every bucket). A query's independent reads (``together``) run at once
(read_pool.py). See README.md.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.records import EdgeRecord, EdgeUpsert, NodeRecord, NodeUpsert
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO, Registry
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
from fleetgraph.storage.cassandra import directory_scan, partition_reads, time_reads
from fleetgraph.storage.cassandra.describe import layout, read_keyspaces
from fleetgraph.storage.cassandra.migrate import directory_ready, index_ready, plan_migration
from fleetgraph.storage.cassandra.partition_reads import PartitionReads, Read
from fleetgraph.storage.cassandra.read_models import (
    KEYS_PER_SELECT,
    NAMESPACE_PREFIX,
    ReadModelTable,
    bucket_of,
    buckets_of,
    by_bucket,
)
from fleetgraph.storage.cassandra.read_pool import ReadPool
from fleetgraph.storage.cassandra.rows import (
    edge_record,
    history_write,
    is_live,
    live_created_at,
    node_record,
)
from fleetgraph.storage.cassandra.schema import (
    CREATED,
    LATEST,
    TS,
    WIDE_EDGES,
    EdgeNamespace,
    NodeNamespace,
    Table,
    TypeNamespaces,
    Wide,
)
from fleetgraph.storage.cassandra.session import (
    DDL_PROFILE,
    WRITE_PROFILE,
    connect,
    describe,
    driver_errors,
    refresh_schema,
    storage_error,
)
from fleetgraph.storage.cassandra.writes import (
    Write,
    distinct_entries,
    plan_directory_entry,
    plan_edge,
    plan_history,
    plan_node,
    plan_reindex_row,
)
from fleetgraph.storage.config import CassandraConfig
from fleetgraph.storage.history import merge

MIN_TOKEN = -(2**63)  # Murmur3 never gives a key this token: "before the first"
MAX_BATCH = 32  # statements in one batch
MAX_BATCH_PARTITIONS = 8  # partitions in one batch across them (Cassandra warns above 10)
MAX_BATCH_BYTES = 3500  # estimated (_size); Cassandra warns of batches over 5 KiB
DDL_CONCURRENCY = 8
REINDEX_PAGE = 2000  # live rows per page, and index writes per round, of reindex
Job = tuple[Any, tuple[Any, ...] | None]



def replication_factor(replication: str) -> int | None:
    """The smallest replication factor a keyspace replication map names (per data
    centre for NetworkTopologyStrategy); None when it cannot be read."""
    try:
        options = ast.literal_eval(replication)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(options, dict):
        return None
    factors = [int(value) for key, value in options.items()
               if key != "class" and str(value).isdigit()]
    return min(factors) if factors else None


def packed(chunks: Iterable[list[Write]]) -> list[list[Write]]:
    """Single-partition chunks packed into batches of at most ``MAX_BATCH`` statements,
    ``MAX_BATCH_PARTITIONS`` partitions and about ``MAX_BATCH_BYTES`` (a chunk is never
    split)."""
    batches: list[list[Write]] = []
    current: list[Write] = []
    partitions = size = 0
    for chunk in chunks:
        chunk_size = sum(_size(write) for write in chunk)
        if current and (len(current) + len(chunk) > MAX_BATCH
                        or partitions >= MAX_BATCH_PARTITIONS
                        or size + chunk_size > MAX_BATCH_BYTES):
            batches.append(current)
            current, partitions, size = [], 0, 0
        current.extend(chunk)
        partitions += 1
        size += chunk_size
    if current:
        batches.append(current)
    return batches


def _size(write: Write) -> int:
    """About what a write weighs in a batch: its values, and per cell its name and
    timestamp."""
    return sum(len(v) if isinstance(v, str) else 8 for v in write.params) \
        + 24 * len(write.params)


class CassandraGraphStore(GraphStore):
    """The cluster store. Its config gives the contact points, local data centre,
    keyspace prefix and replication (the defaults when not given; build one with
    ``CassandraConfig(port=..., keyspace_prefix=...)``).

    The schema is made by :meth:`init_schema` (``fleetgraph storage init``), or at
    construction with ``schema="init"``. By default (``"check"``) the constructor
    checks that it matches the registry and raises StorageError if not;
    ``"trust"`` skips the check.
    """

    def __init__(
        self,
        registry: Registry,
        config: CassandraConfig | None = None,
        *,
        wide_edges: Mapping[str, Wide] | None = None,
        schema: SchemaMode = "check",
        concurrency: int = 100,
        clock: Callable[[], int] = wall_clock_us,
        grouped_reads: bool | None = None,
        directory_reads: bool = True,
        concurrent_reads: bool = True,
        small_reads_whole: bool = True,
    ) -> None:
        self.registry = registry
        # a grouped read of a wide side naming at most PARTITIONS_PER_SELECT partitions
        # reads every bucket without its directory (one request either way, one round
        # trip fewer), and a window read of a side whose Wide says no ``window_index``
        # reads whole; False: directory and index as before (for tests and benchmarks)
        self.small_reads_whole = small_reads_whole
        # ``together``'s reads at once (read_pool.py); False: one after another, as the
        # base class (for tests and benchmarks)
        self.concurrent_reads = concurrent_reads
        self._read_pool = ReadPool()
        # read a wide side's buckets through its directory once it is ready (False:
        # every bucket, as before the directory; for tests and benchmarks)
        self.directory_reads = directory_reads
        # many partitions in one SELECT (partition_reads.py); None: while every node
        # is a replica of every row (True or False: always, never; for tests)
        self.grouped_reads = grouped_reads
        self.config = CassandraConfig() if config is None else config
        self._clock = clock
        self._concurrency = concurrency
        prefix = self.config.keyspace_prefix
        wide = WIDE_EDGES if wide_edges is None else wide_edges
        self._unindexed = {name for name, side in wide.items() if not side.window_index}
        self.type_namespaces = TypeNamespaces.for_registry(registry, prefix, wide)
        self._nodes, self._edges = self.type_namespaces.nodes, self.type_namespaces.edges
        self._read_models = ReadModelTable.for_prefix(prefix)
        self._prepared: dict[str, Any] = {}
        self._updates: dict[tuple[str, tuple[str, ...]], Any] = {}  # by (table, columns)
        self.written: set[str] = set()  # tables this store wrote to (see truncate)
        self.rows_read = 0  # rows fetched by neighbours (index and adjacency), for tests
        self._indexed: set[str] = set()  # edge types whose time index reads may use
        self._directed: set[str] = set()  # edge types whose bucket directory reads may use
        self._lock = threading.Lock()
        self._cluster, self._session = connect(self.config)
        # read once: parsing it on every read (ast.literal_eval in the read pool's
        # threads) fails now and then on CPython 3.11 ("AST constructor recursion
        # depth mismatch", cpython#106905)
        self._replication_factor = replication_factor(self.config.replication)
        try:
            if schema == "init":
                self.init_schema()
            elif schema == "check":
                self.check_schema()
            self.refresh_index_state()
        except BaseException:
            self._cluster.shutdown()
            raise

    def refresh_index_state(self) -> None:
        """Read from the schema which time indexes and bucket directories are ready
        (README.md, "Time-ordered adjacency", "Wide adjacency: buckets"); a pending one is
        not used until reindexed."""
        keyspaces = self._cluster.metadata.keyspaces
        self._indexed = {name for name, ns in self._edges.items() if index_ready(keyspaces, ns)}
        self._directed = {name for name, ns in self._edges.items()
                          if directory_ready(keyspaces, ns)}

    @property
    def session(self) -> Any:
        """The driver session (for tools and tests that need raw CQL)."""
        return self._session

    @property
    def namespaces(self) -> list[NodeNamespace | EdgeNamespace]:
        return [*self._nodes.values(), *self._edges.values()]

    @property
    def tables(self) -> list[Table]:
        return [table for namespace in self.namespaces for table in namespace.tables]

    # --- schema -------------------------------------------------------------
    def init_schema(self) -> list[str]:
        """Create missing keyspaces and tables, add columns for newly declared
        properties, follow TTL changes; idempotent. Returns the DDL it ran.

        Run it from one process at a time: concurrent schema changes from several
        clients can disagree on Cassandra 5.0."""
        refresh_schema(self._cluster, self.config.where)
        migration = plan_migration(
            self._cluster.metadata.keyspaces, self.namespaces, self.config.replication
        )
        if migration.conflicts:
            raise StorageError("cannot migrate: " + "; ".join(migration.conflicts))
        for step in (migration.keyspaces, migration.tables, migration.alters):
            if step:
                jobs: list[Job] = [(SimpleStatement(cql), None) for cql in step]
                self._run(jobs, "schema change", DDL_CONCURRENCY, DDL_PROFILE)
        if migration.statements:
            refresh_schema(self._cluster, self.config.where)
        read_models = self._read_models.missing(
            self._cluster.metadata.keyspaces, self.config.replication)
        for cql in read_models:  # keyspace, then table
            self._run([(SimpleStatement(cql), None)], "schema change", 1, DDL_PROFILE)
        if read_models:
            refresh_schema(self._cluster, self.config.where)
        return migration.statements + read_models

    def check_schema(self) -> None:
        """Raise StorageError unless every namespace is there as the registry says."""
        migration = plan_migration(
            self._cluster.metadata.keyspaces, self.namespaces, self.config.replication
        )
        problems = migration.conflicts + migration.statements + self._read_models.missing(
            self._cluster.metadata.keyspaces, self.config.replication)
        if problems:
            raise StorageError(
                f"the Cassandra schema (prefix {self.config.keyspace_prefix!r}) does not "
                f"match the registry; run `fleetgraph storage init`. First of "
                f"{len(problems)}: {problems[0]}"
            )

    def truncate(self, only_written: bool = False) -> None:
        """Delete every row of every table, or of the tables this store wrote to
        (for tests and re-ingests). Unlike deletes, leaves no tombstones that
        would hide later writes of older event times."""
        names = [t.qualified for ns in self.namespaces for t in ns.schema_tables]
        names.append(self._read_models.qualified)
        if only_written:
            names = [n for n in names if n in self.written]
        jobs: list[Job] = [(SimpleStatement(f"TRUNCATE {name}"), None) for name in names]
        self._run(jobs, "truncate", DDL_CONCURRENCY, DDL_PROFILE)
        self.written.difference_update(names)

    def drop_schema(self) -> None:
        """Drop this store's keyspaces, data and all."""
        jobs: list[Job] = [
            (SimpleStatement(f"DROP KEYSPACE IF EXISTS {ns.keyspace}"), None)
            for ns in self.namespaces
        ]
        derived = self._read_models.keyspace
        jobs.append((SimpleStatement(f"DROP KEYSPACE IF EXISTS {derived}"), None))
        self._run(jobs, "drop keyspace", DDL_CONCURRENCY, DDL_PROFILE)

    # --- writes -------------------------------------------------------------
    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        self._write(self.plan_nodes(nodes, self._clock()))

    def upsert_edges(self, edges: Sequence[EdgeUpsert]) -> None:
        self._write(self.plan_edges(edges, self._clock()))

    def plan_nodes(self, nodes: Sequence[NodeUpsert], now_us: int) -> list[Write]:
        """Every row write that stores ``nodes`` (the bulk writer, bulk.py, writes the same)."""
        return [w for n in nodes for w in plan_node(self._node_ns(n.type).nodes, n, now_us)]

    def plan_edges(self, edges: Sequence[EdgeUpsert], now_us: int) -> list[Write]:
        """Every row write that stores ``edges``, in every table (the bulk writer's too)."""
        writes = []
        for e in edges:
            namespace = self._edge_ns(e.type)
            writes += plan_edge(namespace, e, now_us)
            writes += plan_history(namespace, e, now_us)
        return distinct_entries(writes)

    def _write(self, writes: list[Write]) -> None:
        by_partition: dict[tuple[Any, ...], list[Write]] = {}
        for write in writes:
            by_partition.setdefault(write.partition, []).append(write)
        with self._lock:
            self.written.update(partition[0] for partition in by_partition)
        chunks: list[list[Write]] = []
        for group in by_partition.values():
            chunks.extend(group[i : i + MAX_BATCH] for i in range(0, len(group), MAX_BATCH))
        if self._every_node_a_replica():
            chunks = packed(chunks)
        jobs: list[Job] = []
        for chunk in chunks:
            if len(chunk) == 1:
                jobs.append((self._update(chunk[0]), chunk[0].params))
                continue
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for write in chunk:
                batch.add(self._update(write), write.params)
            jobs.append((batch, None))
        if jobs:
            self._run(jobs, "write", rows=False)

    def _count_rows(self, rows: int) -> None:
        """Add to ``rows_read`` (reads run on several threads at once: ``together``)."""
        with self._lock:
            self.rows_read += rows

    def _every_node_a_replica(self) -> bool:
        """Whether every node holds every row (no more nodes than the replication factor):
        then a batch across partitions costs its coordinator no hop, and the driver
        one request instead of one per partition (its per-request work is most of a
        write's CPU time)."""
        factor = self._replication_factor
        return factor is not None and len(self._cluster.metadata.all_hosts()) <= factor

    def _update(self, write: Write) -> Any:
        key = (write.table.qualified, write.columns)
        prepared = self._updates.get(key)
        if prepared is None:
            prepared = self._updates[key] = self._prepare(write.table.update_cql(write.columns))
        return prepared

    # --- reads --------------------------------------------------------------
    def partition_reads(self) -> PartitionReads:
        """How this store reads many partitions now (partition_reads.py): grouped into
        multi-partition SELECTs while every node is a replica of every row."""
        grouped = self.grouped_reads
        if grouped is None:
            grouped = self._every_node_a_replica()
        return PartitionReads(self._run, self._prepare, grouped)

    def run_reads(self, reads: Sequence[Callable[[], Any]]) -> list[Any]:
        """``together``'s reads at once (read_pool.py), unless ``concurrent_reads`` is off."""
        if not self.concurrent_reads:
            return super().run_reads(reads)
        return self._read_pool.run(reads)

    def get_nodes(self, ids: Sequence[str]) -> dict[str, NodeRecord]:
        reads = self.partition_reads()
        now = self._clock()
        found: dict[str, NodeRecord] = {}
        for node_type, type_ids in group_by_type(ids).items():
            namespace = self._nodes.get(node_type)
            if namespace is None:
                continue  # an id of an unknown type names nothing stored
            table = namespace.nodes
            select = f"SELECT {', '.join(table.select_columns)} FROM {table.qualified}"
            rows = reads.read(select, table.partition_key, type_ids, action="read nodes")
            for node_rows in rows.values():
                for row in node_rows:
                    record = node_record(node_type, table, row, now)
                    if record is not None:
                        found[record.id] = record
        return found

    def neighbours(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        window: TimeWindow | None = None,
    ) -> dict[str, list[EdgeRecord]]:
        namespace = self._edge_ns(edge_type)
        table = namespace.side(direction)
        temporal = self.registry.edge(edge_type).temporal
        result: dict[str, list[EdgeRecord]] = {node_id: [] for node_id in ids}
        now = self._clock()
        reads = self.partition_reads()
        if (window is not None and edge_type in self._indexed
                and not (self.small_reads_whole and edge_type in self._unindexed)
                and time_reads.usable(window, now, table.buckets)):
            result, fetched = time_reads.read_window(
                reads, edge_type, namespace, direction, list(result), window, now)
            self._count_rows(fetched)
            return result
        history = namespace.history_side(direction)
        with_history = history is not None and window is not None and bool(table.ttl_us)
        select = f"SELECT {', '.join(table.select_columns)} FROM {table.qualified}"
        listed = self.listed_buckets(edge_type, direction, list(result))
        wanted = [Read(select, table.partition_key, list(result), list(range(table.buckets)),
                       per_near=listed)]
        if with_history:  # its history in the same round trip
            assert history is not None
            spread = "bucket" in history.partition_key
            wanted.append(Read(
                f"SELECT {', '.join(history.select_columns)} FROM {history.qualified}",
                history.partition_key, list(result),
                list(range(history.buckets)) if spread else [],
                per_near=listed if spread else None))
        found, *kept = reads.read_together(wanted, f"read {edge_type} edges")
        for near, rows in found.items():
            self._count_rows(len(rows))
            edges = result[near]
            for row in rows:
                record = edge_record(edge_type, table, row, now)
                if record is None:
                    continue
                # the window's rule, declared once (graph_model.intervals)
                if window is not None and temporal and not window.overlaps(
                    record.props.get(VALID_FROM), record.props.get(VALID_TO)
                ):
                    continue
                edges.append(record)
            if table.buckets > 1:
                edges.sort(key=lambda e: e.other(near))
        if not with_history or history is None or window is None:
            return result
        writes = {near: [history_write(history, row) for row in rows]
                  for near, rows in kept[0].items()}
        return merge(edge_type, result, writes, direction, window, table.ttl_us, now)

    def neighbour_ids(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        *,
        recorded_by: int | None = None,
        window: TimeWindow | None = None,
    ) -> dict[str, list[str]]:
        """The far ids and the meta columns only (the same partitions as ``neighbours``);
        a window on a temporal type: the intervals projected (the base class)."""
        if window is not None and self.registry.edge(edge_type).temporal:
            return super().neighbour_ids(edge_type, ids, direction, recorded_by=recorded_by,
                                         window=window)
        table = self._edge_ns(edge_type).side(direction)
        near_column, far_column = [c for c in table.key_columns if c != "bucket"]
        select = (f"SELECT {near_column}, {far_column}, {TS}, {LATEST}, {CREATED} "
                  f"FROM {table.qualified}")
        found = self.partition_reads().read(select, table.partition_key, ids,
                                            range(table.buckets),
                                            action=f"read {edge_type} edges",
                                            per_near=self.listed_buckets(edge_type, direction,
                                                                         ids))
        now = self._clock()
        result: dict[str, list[str]] = {}
        for near, rows in found.items():
            self._count_rows(len(rows))
            if recorded_by is None:  # live is enough: no creation to decode
                fars = [row[1] for row in rows if is_live(table, row[2], row[3], now)]
            else:
                fars = []
                for _, far, ts, latest, created in rows:
                    created_at = live_created_at(table, ts, latest, created, now)
                    if created_at is not None and created_at <= recorded_by:
                        fars.append(far)
            if table.buckets > 1:
                fars.sort()
            result[near] = fars
        return result

    def listed_buckets(self, edge_type: str, direction: Direction,
                       ids: Sequence[str]) -> dict[str, list[int]] | None:
        """The buckets of this side that its bucket directory lists for each id (one
        grouped read of the directory), or None: every bucket (not a wide side, its
        directory not ready, ``directory_reads`` off, or a grouped read whose every
        bucket fits in one SELECT: ``small_reads_whole``)."""
        namespace = self._edge_ns(edge_type)
        directory = namespace.directory_of(direction)
        if directory is None or not self.directory_reads or edge_type not in self._directed:
            return None
        reads = self.partition_reads()
        if self.small_reads_whole and reads.grouped and (
                len(set(ids)) * namespace.side(direction).buckets
                <= partition_reads.PARTITIONS_PER_SELECT):
            return None  # one SELECT names them all: no round trip to the directory first
        found = reads.read(directory.select_cql(), directory.partition_key, ids,
                           action=f"read the {edge_type} bucket directory")
        return {near: [row[1] for row in rows] for near, rows in found.items()}

    def node_values(self, ids: Sequence[str], prop: str) -> dict[str, Any]:
        """The id, one property and the meta columns only (the partitions of
        ``get_nodes``)."""
        reads = self.partition_reads()
        now = self._clock()
        found: dict[str, Any] = {}
        for node_type, type_ids in group_by_type(ids).items():
            namespace = self._nodes.get(node_type)
            if namespace is None:
                continue  # an id of an unknown type names nothing stored
            table = namespace.nodes
            has = prop in table.prop_names
            value = f"p_{prop}" if has else TS
            select = f"SELECT id, {value}, {TS}, {LATEST}, {CREATED} FROM {table.qualified}"
            rows = reads.read(select, table.partition_key, type_ids, action="read nodes")
            for node_rows in rows.values():
                for node_id, value, ts, latest, created in node_rows:
                    if live_created_at(table, ts, latest, created, now) is not None:
                        found[node_id] = value if has else None
        return found

    def scan_nodes(self, node_type: str, after: str | None, limit: int) -> Page:
        table = self._node_ns(node_type).nodes
        if limit <= 0:
            return Page([], None)
        try:
            start = MIN_TOKEN if after is None else int(after)
        except ValueError:
            raise StorageError(f"{after!r} is not a scan cursor of the Cassandra store") from None
        job: Job = (self._prepare(table.scan_cql()), (start, limit + 1))
        [rows] = self._run([job], f"scan {node_type} nodes")
        now = self._clock()
        records = [node_record(node_type, table, row[1:], now) for row in rows[:limit]]
        next_after = str(rows[limit - 1][0]) if len(rows) > limit else None
        return Page([r for r in records if r is not None], next_after)

    # --- read models (storage/cassandra/read_models.py) ----------------------
    def put_read_models(self, model: str, rows: Mapping[str, str | None]) -> None:
        table = self._read_models
        insert, delete = self._prepare(table.insert_cql), self._prepare(table.delete_cql)
        jobs: list[Job] = [
            (insert, (model, bucket_of(model, key), key, value)) if value is not None
            else (delete, (model, bucket_of(model, key), key)) for key, value in rows.items()]
        with self._lock:
            self.written.add(table.qualified)
        self._run(jobs, f"write the {model} read model", rows=False)

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        table = self._read_models
        if keys is None:
            select = self._prepare(table.select_all_cql)
            jobs: list[Job] = [(select, (model, bucket)) for bucket in buckets_of(model)]
        else:
            select = self._prepare(table.select_keys_cql)
            jobs = [(select, (model, bucket, found[i : i + KEYS_PER_SELECT]))
                    for bucket, found in by_bucket(model, keys).items()
                    for i in range(0, len(found), KEYS_PER_SELECT)]
        return {row[0]: row[1] for rows in self._run(jobs, f"read the {model} read model")
                for row in rows}

    def count(self, namespace: str) -> int:
        """Rows in one namespace (``node_<type>`` or ``edge_<type>``): a full scan; or
        rows of a read model (``read_model_<model>``)."""
        if namespace.startswith(NAMESPACE_PREFIX):
            model = namespace.removeprefix(NAMESPACE_PREFIX)
            counting: list[Job] = [(SimpleStatement(self._read_models.count_cql), (model, b))
                                   for b in buckets_of(model)]
            return sum(int(found[0][0])
                       for found in self._run(counting, "count", profile=DDL_PROFILE))
        kind, _, type_name = namespace.partition("_")
        spaces: Mapping[str, NodeNamespace | EdgeNamespace] = (
            self._nodes if kind == "node" else self._edges if kind == "edge" else {}
        )
        if type_name not in spaces:
            raise StorageError(f"no namespace {namespace!r}")
        table = spaces[type_name].tables[0]
        job: Job = (SimpleStatement(f"SELECT count(*) FROM {table.qualified}"), None)
        [rows] = self._run([job], "count", profile=DDL_PROFILE)
        return int(rows[0][0])

    def describe(self) -> Layout:
        """The keyspaces of this store's prefix as the cluster has them (system_schema):
        replication, tables, expiry."""
        return layout(read_keyspaces(self._session, self.config), self.config.keyspace_prefix)

    # --- maintenance --------------------------------------------------------
    def reindex(self) -> dict[str, int]:
        """Fill each temporal type's time index from its live rows, and each wide side's
        bucket directory from its rows, where it is not ready (``fleetgraph storage
        reindex``: after ``storage init`` added them beside existing data), then mark them
        ready so that reads use them. One that is ready already is complete (every write
        since it was made wrote its entries) and left alone. Idempotent; writes may go on
        meanwhile (they index themselves). Returns the rows indexed per edge type, and
        the directory entries per ``<type> buckets``, of those it filled."""
        refresh_schema(self._cluster, self.config.where)
        self.refresh_index_state()
        done: dict[str, int] = {}
        for name, namespace in self._edges.items():
            if namespace.index is None or name in self._indexed:
                continue
            table, now = namespace.out_edges, self._clock()
            statement = SimpleStatement(table.reindex_cql(), fetch_size=REINDEX_PAGE)
            writes: list[Write] = []
            done[name] = 0
            with driver_errors(f"reindex {name}", self.config.where):
                for from_id, to_id, valid_to, written, updated_at in self._session.execute(
                        statement, execution_profile=DDL_PROFILE):
                    if updated_at is None:
                        continue  # only "created" landed: not a live record
                    at = written if valid_to is not None and written is not None else updated_at
                    writes += plan_reindex_row(namespace.index, from_id, to_id, valid_to, at, now)
                    done[name] += 1
                    if len(writes) >= REINDEX_PAGE:
                        self._write(writes)
                        writes = []
            self._write(writes)
            jobs: list[Job] = [(SimpleStatement(t.mark_ready_cql()), None)
                               for t in namespace.index.tables]
            self._run(jobs, "mark the time index ready", DDL_CONCURRENCY, DDL_PROFILE)
        for name, namespace in self._edges.items():
            if namespace.directory is not None and name not in self._directed:
                done[f"{name} buckets"] = self._reindex_directory(name, namespace)
        refresh_schema(self._cluster, self.config.where)
        self.refresh_index_state()
        return done

    def _reindex_directory(self, name: str, namespace: EdgeNamespace) -> int:
        """Fill the bucket directory of a wide side from its stored rows
        (directory_scan.py) and mark it ready; the entries written."""
        directory, now = namespace.directory, self._clock()
        assert directory is not None
        entries: directory_scan.Entries = {}
        with driver_errors(f"reindex the {name} bucket directory", self.config.where):
            for cql in directory_scan.scan_cql(namespace):
                statement = SimpleStatement(cql, fetch_size=REINDEX_PAGE)
                directory_scan.newest_writes(
                    self._session.execute(statement, execution_profile=DDL_PROFILE), now, entries)
        writes = [w for (near, bucket), at in entries.items()
                  for w in plan_directory_entry(directory, near, bucket, at, now)]
        for i in range(0, len(writes), REINDEX_PAGE):
            self._write(writes[i : i + REINDEX_PAGE])
        self._run([(SimpleStatement(directory.mark_ready_cql()), None)],
                  "mark the bucket directory ready", 1, DDL_PROFILE)
        return len(entries)

    def expire(self, now_us: int) -> int:
        """Nothing to do: cells carry a TTL measured from their event time and
        Cassandra drops them itself; reads hide records whose newest write is
        older than the type's TTL. Returns 0."""
        del now_us
        return 0

    def dump(self) -> Iterator[tuple[str, tuple[object, ...]]]:
        """Every row of every table (bucket left out), tables by name, rows by key."""
        for table in sorted(self.tables, key=lambda t: t.qualified):
            ids = len(table.key_columns) - (1 if "bucket" in table.key_columns else 0)
            job: Job = (SimpleStatement(table.dump_cql(), fetch_size=5000), None)
            [rows] = self._run([job], f"dump {table.qualified}", profile=DDL_PROFILE)
            for row in sorted(rows, key=lambda r: tuple(r[:ids])):
                yield table.qualified, tuple(row)

    def close(self) -> None:
        self._read_pool.close()
        self._cluster.shutdown()

    # --- helpers ------------------------------------------------------------
    def _node_ns(self, node_type: str) -> NodeNamespace:
        return self.type_namespaces.node(node_type)

    def _edge_ns(self, edge_type: str) -> EdgeNamespace:
        return self.type_namespaces.edge(edge_type)

    def _prepare(self, cql: str) -> Any:
        prepared = self._prepared.get(cql)
        if prepared is None:
            with driver_errors("prepare", self.config.where):
                prepared = self._session.prepare(cql)
            with self._lock:
                self._prepared[cql] = prepared
        return prepared

    def _any_host_up(self) -> bool:
        return any(host.is_up for host in self._cluster.metadata.all_hosts())

    def _run(
        self,
        jobs: Iterable[Job],
        action: str,
        concurrency: int | None = None,
        profile: str | None = None,
        rows: bool = True,
    ) -> list[list[Any]]:
        """Run statements concurrently and read every page of their results (unless
        ``rows`` is false); the one place driver errors become StorageError."""
        jobs = list(jobs)
        if not jobs:
            return []
        profile = profile or (None if rows else WRITE_PROFILE)  # writes: their consistency
        kwargs: dict[str, Any] = {"execution_profile": profile} if profile else {}
        with driver_errors(action, self.config.where):
            try:
                results = execute_concurrent(
                    self._session,
                    jobs,
                    concurrency=concurrency or self._concurrency,
                    raise_on_first_error=False,
                    **kwargs,
                )
            except (TypeError, RecursionError) as exc:
                # with every node down, the driver's concurrent executor fails its
                # requests synchronously, recurses, and ends sorting exceptions
                if not self._any_host_up():
                    raise StorageUnavailable(
                        f"cassandra at {self.config.where}: {action} failed: no node is up "
                        f"({describe(exc)})") from exc
                raise
            failed = [r.result_or_exc for r in results if not r.success]
            if failed:
                raise storage_error(
                    f"cassandra at {self.config.where}: {action} failed for {len(failed)} of "
                    f"{len(jobs)} statements; first: {describe(failed[0])}", failed[0]
                ) from failed[0]
            return [list(r.result_or_exc) for r in results] if rows else []
