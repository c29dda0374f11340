"""Keyspaces, tables and CQL of the Cassandra backend, built once per type.

Node type ``cdu`` lives in keyspace ``<prefix>node_cdu``, table ``nodes``
(partition key ``id``). Edge type ``cooled_by`` lives in keyspace
``<prefix>edge_cooled_by``, tables ``out_edges`` (partition key
``(from_id, bucket)``, clustering ``to_id``) and ``in_edges`` (partition key
``(to_id, bucket)``, clustering ``from_id``). Each property ``x`` has one typed
value column ``p_x``; Cassandra's per-cell write timestamps (the event time)
make the merge last-write-wins per property. ``updated_at`` and ``latest`` hold
the newest write's provenance, ``created`` the oldest write (see README.md).
An edge type with a live TTL also has ``history_out`` (partition key
``from_id``, clustering ``(ts, to_id, event_id)``) and ``history_in`` (partition
key ``(to_id, bucket)``, clustering ``(ts, from_id, event_id)``): every write,
kept for the type's history retention, in event time order (``fleetgraph.storage.history``).
A temporal edge type without a TTL also has a time index per direction (README.md,
"Time-ordered adjacency"): ``ends_out``/``ends_in`` (partition ``(near id, period)``,
clustering ``(valid_to, far id)``: every end ever written) and ``open_out``/``open_in``
(partition near id, clustering far id: the pairs whose ``valid_to`` is empty).
A wide side (``WIDE_EDGES``) also has a bucket directory, ``buckets_in`` (or
``buckets_out``; partition near id, clustering ``bucket``): a row for every bucket an
edge was ever written to, so that reads ask only those (README.md, "Wide adjacency:
buckets").
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property

from fleetgraph.graph_model.types import EdgeType, NodeType, Prop, PropKind, Registry
from fleetgraph.storage.base import Direction, StorageError

CQL_TYPE = {
    PropKind.STRING: "text",
    PropKind.INT: "bigint",
    PropKind.FLOAT: "double",
    PropKind.BOOL: "boolean",
    PropKind.TIME: "bigint",
}
TS, LATEST, CREATED = "updated_at", "latest", "created"  # CQL names cannot start with _
META_COLUMNS = ((TS, "bigint"), (LATEST, "text"), (CREATED, "text"))
SEP = "\x00"  # sorts below every other character, so joined strings sort like tuples
CREATED_TS_BASE = 2**62  # "created" is written at 2**62 - created_at: the oldest wins

NODES, OUT_EDGES, IN_EDGES = "nodes", "out_edges", "in_edges"
HISTORY_OUT, HISTORY_IN = "history_out", "history_in"
WRITTEN = "written"  # history: the names of the properties a write set
HISTORY_META = ((WRITTEN, "text"), (LATEST, "text"))
ENDS_OUT, ENDS_IN, OPEN_OUT, OPEN_IN = "ends_out", "ends_in", "open_out", "open_in"
SEEN = "seen"  # the one value column of an index row (its cell is the entry)
INDEX_LAYOUT = 1  # the time index's layout version, in its tables' comments
PERIOD_US = 24 * 3600 * 1_000_000  # an ``ends`` partition holds the ends of one day
FUTURE_PERIOD = 2**31 - 1  # ends more than a period after the writer's clock
INDEX_GC_GRACE_S = 3600  # tombstones of ``open`` entries: a resurrected one is harmless
_INDEX_STATE = re.compile(r"time index layout=(\d+) (ready|pending)")
BUCKETS_OUT, BUCKETS_IN = "buckets_out", "buckets_in"  # the bucket directories
DIRECTORY_LAYOUT = 1  # the bucket directory's layout version, in its table's comment
_DIRECTORY_STATE = re.compile(r"bucket directory layout=(\d+) (ready|pending)")
MAX_NAME = 48  # Cassandra's limit for keyspace and table names
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_BUCKETS_COMMENT = re.compile(r"buckets=(\d+)")


@dataclass(frozen=True)
class Wide:
    """An adjacency side spread over ``buckets`` partitions per node. ``window_index``
    False: a window read of it reads the partitions whole, not through the time index
    (edges that stay open for long, such as what a site holds: the index would name
    nearly every row, and take a round trip more)."""

    side: Direction
    buckets: int
    window_index: bool = True


# Sides with a huge fan-out: one model is used by millions of jobs, a server runs
# jobs for years, a site caches many artifacts. The IN side of these types puts
# an edge in bucket ``stable_bucket(from_id, n)``; every other side uses bucket 0.
# Fixed once data is written: init_schema() refuses to change a table's bucket count.
WIDE_EDGES: Mapping[str, Wide] = {
    "used_model": Wide(Direction.IN, 16),
    "read": Wide(Direction.IN, 16),
    "ran_on": Wide(Direction.IN, 8),
    "allocated": Wide(Direction.IN, 8),
    "owned_by": Wide(Direction.IN, 8),
    "launched_by": Wide(Direction.IN, 8),
    "cached_at": Wide(Direction.IN, 8),
    "in_site": Wide(Direction.IN, 4, window_index=False),
}


def stable_bucket(other_id: str, buckets: int) -> int:
    """The bucket of an edge on a wide side: a hash of the other end, the same in
    every process (unlike ``hash()``)."""
    if buckets <= 1:
        return 0
    return zlib.crc32(other_id.encode()) % buckets


def keyspace_name(prefix: str, kind: str, type_name: str) -> str:
    """``<prefix>node_<type>`` or ``<prefix>edge_<type>``, checked against CQL's rules."""
    name = f"{prefix}{kind}_{type_name}".lower()
    if not _NAME.match(name) or len(name) > MAX_NAME:
        raise StorageError(
            f"{name!r} is not a valid Cassandra keyspace name "
            f"(letters, digits and _, at most {MAX_NAME} characters)"
        )
    return name


@dataclass(frozen=True)
class Table:
    """One table of a namespace: its key, value columns, expiry and buckets."""

    keyspace: str
    name: str
    partition_key: tuple[str, ...]
    clustering: tuple[str, ...]
    props: tuple[Prop, ...]
    ttl_seconds: int | None
    buckets: int = 1

    @cached_property
    def qualified(self) -> str:
        return f"{self.keyspace}.{self.name}"

    @cached_property
    def key_columns(self) -> tuple[str, ...]:
        return self.partition_key + self.clustering

    @cached_property
    def prop_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.props)

    @cached_property
    def ttl_us(self) -> int:
        return (self.ttl_seconds or 0) * 1_000_000

    @property
    def value_columns(self) -> list[tuple[str, str]]:
        return [(f"p_{p.name}", CQL_TYPE[p.kind]) for p in self.props]

    @property
    def meta_columns(self) -> tuple[tuple[str, str], ...]:
        return META_COLUMNS

    @property
    def select_columns(self) -> list[str]:
        """Ids (not the bucket), property values, then the meta columns."""
        ids = [c for c in self.key_columns if c != "bucket"]
        return ids + [c for c, _ in self.value_columns] + [c for c, _ in self.meta_columns]

    @property
    def comment(self) -> str:
        return f"fleetgraph {self.name} buckets={self.buckets}"

    def key_type(self, column: str) -> str:
        return "int" if column == "bucket" else "text"

    def create_cql(self) -> str:
        columns = [f"{c} {self.key_type(c)}" for c in self.key_columns]
        columns += [f"{c} {t}" for c, t in self.value_columns]
        columns += [f"{c} {t}" for c, t in self.meta_columns]
        key = f"({', '.join(self.partition_key)})"
        if self.clustering:
            key += ", " + ", ".join(self.clustering)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.qualified} ({', '.join(columns)}, "
            f"PRIMARY KEY ({key})) WITH {self.options_cql()}"
        )

    def options_cql(self) -> str:
        return f"default_time_to_live = {self.ttl_seconds or 0} AND comment = '{self.comment}'"

    def add_column_cql(self, column: str, cql_type: str) -> str:
        return f"ALTER TABLE {self.qualified} ADD {column} {cql_type}"

    def alter_options_cql(self) -> str:
        return f"ALTER TABLE {self.qualified} WITH {self.options_cql()}"

    def update_cql(self, columns: tuple[str, ...]) -> str:
        """Set ``columns`` of one row; binds [ttl,] timestamp, values, then key."""
        using = "TTL ? AND TIMESTAMP ?" if self.ttl_seconds else "TIMESTAMP ?"
        sets = ", ".join(f"{c} = ?" for c in columns)
        where = " AND ".join(f"{c} = ?" for c in self.key_columns)
        return f"UPDATE {self.qualified} USING {using} SET {sets} WHERE {where}"

    def select_partition_cql(self) -> str:
        where = " AND ".join(f"{c} = ?" for c in self.partition_key)
        return f"SELECT {', '.join(self.select_columns)} FROM {self.qualified} WHERE {where}"

    def select_keys_cql(self) -> str:
        """Rows of one partition by their clustering ids (``IN ?`` binds a list)."""
        return f"{self.select_partition_cql()} AND {self.clustering[-1]} IN ?"

    def reindex_cql(self) -> str:
        """Every edge of an out table with its end and when the end was written."""
        return (f"SELECT from_id, to_id, p_valid_to, writetime(p_valid_to), {TS} "
                f"FROM {self.qualified}")

    def scan_cql(self) -> str:
        """A page of a node table in token order, after a token."""
        return (
            f"SELECT token(id), {', '.join(self.select_columns)} FROM {self.qualified} "
            "WHERE token(id) > ? LIMIT ?"
        )

    def dump_cql(self) -> str:
        return f"SELECT {', '.join(self.select_columns)} FROM {self.qualified}"


@dataclass(frozen=True)
class HistoryTable(Table):
    """A history table: every write of an edge type with a live TTL, one row per
    edge, event time and event id, clustered by event time; ``ttl_seconds`` is the
    history retention (None: forever)."""

    @property
    def meta_columns(self) -> tuple[tuple[str, str], ...]:
        return HISTORY_META

    @property
    def comment(self) -> str:
        kept = "forever" if self.ttl_seconds is None else f"{self.ttl_seconds}s"
        return f"fleetgraph {self.name} buckets={self.buckets} history retention={kept}"

    def key_type(self, column: str) -> str:
        return "bigint" if column == "ts" else super().key_type(column)


@dataclass(frozen=True)
class DerivedTable(Table):
    """A table derived from the live rows (the time index, the bucket directory): ids as
    keys, one boolean ``seen`` (the entry). ``ready`` is False when it was made beside
    live rows written before it: reads go the old way until ``fleetgraph storage
    reindex`` fills it. Its comment says which layout it holds and whether it is ready."""

    ready: bool = True
    label = "time index"
    layout = INDEX_LAYOUT

    @property
    def value_columns(self) -> list[tuple[str, str]]:
        return [(SEEN, "boolean")]

    @property
    def meta_columns(self) -> tuple[tuple[str, str], ...]:
        return ()

    @property
    def comment(self) -> str:
        state = "ready" if self.ready else "pending"
        return (f"fleetgraph {self.name} buckets={self.buckets} "
                f"{self.label} layout={self.layout} {state}")

    def state_in(self, comment: str | None) -> tuple[int, bool] | None:
        """(layout version, ready) recorded in a comment of a table of this kind."""
        return index_state_in_comment(comment)

    def pending(self) -> DerivedTable:
        return replace(self, ready=False)

    def mark_ready_cql(self) -> str:
        return f"ALTER TABLE {self.qualified} WITH comment = '{replace(self, ready=True).comment}'"


@dataclass(frozen=True)
class DirectoryTable(DerivedTable):
    """The bucket directory of a wide side: partition near id, clustering ``bucket``, a
    row for each bucket of the side an edge of the near id was written to (never
    removed; expiring no sooner than the edges and history rows there: ``ttl_seconds``
    is the longer of the type's TTL and history retention, None when either is
    forever). Reads of the side ask only the buckets it lists."""

    label = "bucket directory"
    layout = DIRECTORY_LAYOUT

    def state_in(self, comment: str | None) -> tuple[int, bool] | None:
        match = _DIRECTORY_STATE.search(comment or "")
        return (int(match.group(1)), match.group(2) == "ready") if match else None

    def select_cql(self) -> str:
        """The near id and bucket of its rows (``WHERE <near> IN ?`` is added)."""
        return f"SELECT {self.partition_key[0]}, bucket FROM {self.qualified}"


@dataclass(frozen=True)
class IndexTable(DerivedTable):
    """A table of the time index: ids, the period and the end as keys, one boolean
    ``seen`` (the entry); ready or pending as every derived table."""

    def options_cql(self) -> str:
        grace = f" AND gc_grace_seconds = {INDEX_GC_GRACE_S}" if self.name in (
            OPEN_OUT, OPEN_IN) else ""
        return super().options_cql() + grace

    def key_type(self, column: str) -> str:
        return {"period": "int", "valid_to": "bigint"}.get(column, "text")

    def select_cql(self) -> str:
        """The far ids of one partition; for ``ends``, those ending after a time."""
        far = self.clustering[-1]
        where = " AND ".join(f"{c} = ?" for c in self.partition_key)
        if self.name in (ENDS_OUT, ENDS_IN):
            where += " AND valid_to > ?"
        return f"SELECT {far} FROM {self.qualified} WHERE {where}"


@dataclass(frozen=True)
class TimeIndex:
    """The time index of one temporal edge type (see the module docstring)."""

    ends_out: IndexTable
    ends_in: IndexTable
    open_out: IndexTable
    open_in: IndexTable

    @classmethod
    def for_keyspace(cls, keyspace: str) -> TimeIndex:
        def table(name: str, near: str, clustering: tuple[str, ...]) -> IndexTable:
            return IndexTable(keyspace, name, (near, *(("period",) if "valid_to" in clustering
                                                       else ())), clustering, (), None)

        return cls(
            table(ENDS_OUT, "from_id", ("valid_to", "to_id")),
            table(ENDS_IN, "to_id", ("valid_to", "from_id")),
            table(OPEN_OUT, "from_id", ("to_id",)),
            table(OPEN_IN, "to_id", ("from_id",)),
        )

    @property
    def tables(self) -> tuple[IndexTable, ...]:
        return (self.ends_out, self.ends_in, self.open_out, self.open_in)

    def side(self, direction: Direction) -> tuple[IndexTable, IndexTable]:
        """(ends, open) of one direction."""
        if direction is Direction.OUT:
            return self.ends_out, self.open_out
        return self.ends_in, self.open_in


def period_of(valid_to: int, now_us: int) -> int:
    """The ``ends`` partition of an end: its day, or FUTURE_PERIOD when that day is
    more than one after the writer's clock (readers look there too)."""
    period = valid_to // PERIOD_US
    return FUTURE_PERIOD if period > now_us // PERIOD_US + 1 else period


def periods_after(start: int, now_us: int) -> list[int]:
    """The ``ends`` partitions that can hold an end after ``start``: from its day to two
    after the reader's clock (one day of clock skew between writers and readers), and
    FUTURE_PERIOD."""
    last = max(start // PERIOD_US, now_us // PERIOD_US + 2)
    return [*range(start // PERIOD_US, last + 1), FUTURE_PERIOD]


def index_state_in_comment(comment: str | None) -> tuple[int, bool] | None:
    """(layout version, ready) recorded in an index table's comment."""
    match = _INDEX_STATE.search(comment or "")
    return (int(match.group(1)), match.group(2) == "ready") if match else None


def buckets_in_comment(comment: str | None) -> int | None:
    """The bucket count recorded in a table's comment by init_schema()."""
    match = _BUCKETS_COMMENT.search(comment or "")
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class NodeNamespace:
    keyspace: str
    nodes: Table

    @classmethod
    def for_type(cls, prefix: str, node_type: NodeType) -> NodeNamespace:
        keyspace = keyspace_name(prefix, "node", node_type.name)
        table = Table(keyspace, NODES, ("id",), (), node_type.props, node_type.ttl_seconds)
        return cls(keyspace, table)

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.nodes,)

    @property
    def schema_tables(self) -> tuple[Table, ...]:
        return self.tables


@dataclass(frozen=True)
class EdgeNamespace:
    keyspace: str
    out_edges: Table
    in_edges: Table
    history: tuple[HistoryTable, HistoryTable] | None = None  # out, in
    index: TimeIndex | None = None  # temporal types without a TTL
    directory: DirectoryTable | None = None  # of the wide side, if one is

    @classmethod
    def for_type(
        cls, prefix: str, edge_type: EdgeType, wide: Mapping[str, Wide]
    ) -> EdgeNamespace:
        keyspace = keyspace_name(prefix, "edge", edge_type.name)
        spread = wide.get(edge_type.name)
        if spread is not None and spread.buckets < 1:
            raise StorageError(f"edge type {edge_type.name!r}: buckets must be at least 1")

        def buckets(side: Direction) -> int:
            return spread.buckets if spread is not None and spread.side is side else 1

        props, ttl = edge_type.props, edge_type.ttl_seconds
        out_edges = Table(
            keyspace, OUT_EDGES, ("from_id", "bucket"), ("to_id",), props, ttl,
            buckets(Direction.OUT),
        )
        in_edges = Table(
            keyspace, IN_EDGES, ("to_id", "bucket"), ("from_id",), props, ttl,
            buckets(Direction.IN),
        )
        directory = None
        if spread is not None and spread.buckets > 1:
            near = "from_id" if spread.side is Direction.OUT else "to_id"
            name = BUCKETS_OUT if spread.side is Direction.OUT else BUCKETS_IN
            directory = DirectoryTable(keyspace, name, (near,), ("bucket",), (),
                                       directory_ttl(edge_type))
        if not edge_type.keeps_history:
            index = TimeIndex.for_keyspace(keyspace) if edge_type.temporal else None
            return cls(keyspace, out_edges, in_edges, index=index, directory=directory)
        kept = edge_type.history_seconds
        history = (
            HistoryTable(keyspace, HISTORY_OUT, ("from_id",), ("ts", "to_id", "event_id"),
                         props, kept),
            HistoryTable(keyspace, HISTORY_IN, ("to_id", "bucket"), ("ts", "from_id", "event_id"),
                         props, kept, buckets(Direction.IN)),
        )
        return cls(keyspace, out_edges, in_edges, history, directory=directory)

    @property
    def tables(self) -> tuple[Table, ...]:
        """The live tables (what ``dump`` and the checksums cover)."""
        return (self.out_edges, self.in_edges)

    @property
    def schema_tables(self) -> tuple[Table, ...]:
        """Every table init_schema() creates: the live ones, history, the time index, the
        bucket directory."""
        return (self.tables + (self.history or ()) + (self.index.tables if self.index else ())
                + ((self.directory,) if self.directory else ()))

    def directory_of(self, direction: Direction) -> DirectoryTable | None:
        """The bucket directory of this side, if it is the wide one."""
        directory = self.directory
        if directory is None or (directory.name == BUCKETS_IN) != (direction is Direction.IN):
            return None
        return directory

    def history_side(self, direction: Direction) -> HistoryTable | None:
        if self.history is None:
            return None
        return self.history[0] if direction is Direction.OUT else self.history[1]

    def side(self, direction: Direction) -> Table:
        return self.out_edges if direction is Direction.OUT else self.in_edges


def directory_ttl(edge_type: EdgeType) -> int | None:
    """The bucket directory's TTL: the longer of the live TTL and the history retention
    (None when either is forever), so that an entry outlives the rows it stands for."""
    if edge_type.ttl_seconds is None:
        return None
    if edge_type.keeps_history and edge_type.history_seconds is None:
        return None
    return max(edge_type.ttl_seconds, edge_type.history_seconds or 0)


def keyspace_cql(keyspace: str, replication: str) -> str:
    return f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}"


@dataclass(frozen=True)
class TypeNamespaces:
    """The namespace of every node and edge type of a registry under one keyspace
    prefix: how the store names its keyspaces, and how a bulk load (storage/cassandra/
    bulk.py) that plans the store's rows finds them."""

    nodes: dict[str, NodeNamespace]
    edges: dict[str, EdgeNamespace]

    @classmethod
    def for_registry(cls, registry: Registry, prefix: str,
                     wide: Mapping[str, Wide]) -> TypeNamespaces:
        return cls({n: NodeNamespace.for_type(prefix, t) for n, t in registry.nodes.items()},
                   {n: EdgeNamespace.for_type(prefix, t, wide)
                    for n, t in registry.edges.items()})

    def node(self, node_type: str) -> NodeNamespace:
        """The namespace of ``node_type``; StorageError if the registry has no such type."""
        try:
            return self.nodes[node_type]
        except KeyError:
            raise StorageError(f"no namespace for node type {node_type!r}") from None

    def edge(self, edge_type: str) -> EdgeNamespace:
        """The namespace of ``edge_type``; StorageError if the registry has no such type."""
        try:
            return self.edges[edge_type]
        except KeyError:
            raise StorageError(f"no namespace for edge type {edge_type!r}") from None
