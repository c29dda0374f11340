"""SQLite table layout and merge statements, built once per type.

Node type ``cdu`` lives in table ``node_cdu``; edge type ``cooled_by`` in
``edge_cooled_by`` (out-adjacency, primary key ``(from_id, to_id)``) with the
covering index ``edge_cooled_by_in`` on ``(to_id, from_id)`` as in-adjacency.
Each property ``x`` has a value column ``p_x`` and a timestamp column ``t_x``:
the merge keeps, per property, the value of the newest write (ties: a set
value beats an empty one, then the larger value wins), which makes the result
independent of arrival order. ``_ts``, ``_event_id``, ``_source``,
``_event_time`` and ``_writer`` hold the provenance of the newest write;
``_created_at`` and ``_created_by`` the oldest (ties: the larger event id).
A temporal edge type also has the generated column ``span_class`` (see
:func:`span_class_sql`) and the time indexes ``edge_<type>_out_span`` on
``(from_id, span_class, p_valid_from)`` and ``edge_<type>_in_span`` on
``(to_id, span_class, p_valid_from)``: a window read takes the open edges and, per
class of closed spans, the edges starting at most one class width before the window's
start, as range scans of one index (see ``Table.adjacency_sql``). Each scan reads the
edges that overlap the window plus those of its class that start within one width
before it, whatever the node's history: a window in the past costs what one near now
does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleetgraph.graph_model.intervals import TimeWindow, overlap_bounds
from fleetgraph.graph_model.types import VALID_FROM, EdgeType, NodeType, Prop, PropKind

SQL_TYPE = {
    PropKind.STRING: "TEXT",
    PropKind.INT: "INTEGER",
    PropKind.FLOAT: "REAL",
    PropKind.BOOL: "INTEGER",
    PropKind.TIME: "INTEGER",
}
META_COLUMNS = (
    ("_ts", "INTEGER NOT NULL"),
    ("_event_id", "TEXT NOT NULL"),
    ("_source", "TEXT NOT NULL"),
    ("_event_time", "INTEGER NOT NULL"),
    ("_writer", "TEXT NOT NULL"),
    ("_created_at", "INTEGER NOT NULL"),
    ("_created_by", "TEXT NOT NULL"),
)

# Closed intervals are indexed by the class of their span: class k holds the spans shorter
# than SPAN_WIDTHS_US[k] (1 minute, then 4x wider each class, to about 2 years), so an edge
# of class k overlapping a window starting at s starts after s - SPAN_WIDTHS_US[k]. An end
# before its start (a close that came with an earlier end) is in class 0, where the same
# holds (it starts after its end, which is after s).
SPAN_WIDTHS_US = tuple(60_000_000 * 4**k for k in range(11))
OPEN_SPAN = -1  # no end yet: every open edge starting before the window's end overlaps it
UNBOUNDED_SPAN = len(SPAN_WIDTHS_US)  # no start, or a span wider than the widest class


def span_class_sql() -> str:
    """The generated column's expression: the span class of a row's interval."""
    widths = " ".join(f"WHEN p_valid_to - p_valid_from < {width} THEN {k}"
                      for k, width in enumerate(SPAN_WIDTHS_US))
    return (f"CASE WHEN p_valid_to IS NULL THEN {OPEN_SPAN} "
            f"WHEN p_valid_from IS NULL THEN {UNBOUNDED_SPAN} {widths} "
            f"ELSE {UNBOUNDED_SPAN} END")


SPAN_COLUMN = ("span_class", f"INTEGER GENERATED ALWAYS AS ({span_class_sql()}) VIRTUAL")


def _merge_assignments(props: tuple[Prop, ...]) -> list[str]:
    sets = []
    for prop in props:
        p, t = f"p_{prop.name}", f"t_{prop.name}"
        newer = (
            f"excluded.{t} IS NOT NULL AND ({t} IS NULL OR excluded.{t} > {t} OR "
            f"(excluded.{t} = {t} AND ((excluded.{p} IS NOT NULL AND {p} IS NULL) "
            f"OR excluded.{p} > {p})))"
        )
        sets.append(f"{p} = CASE WHEN {newer} THEN excluded.{p} ELSE {p} END")
        sets.append(f"{t} = CASE WHEN {newer} THEN excluded.{t} ELSE {t} END")
    latest = "(excluded._ts, excluded._event_id, excluded._source) > (_ts, _event_id, _source)"
    for column in ("_ts", "_event_id", "_source", "_event_time", "_writer"):
        sets.append(f"{column} = CASE WHEN {latest} THEN excluded.{column} ELSE {column} END")
    # earliest write; at the same time the larger event id, as Cassandra's cell
    # timestamps would pick it (the Cassandra backend writes these two columns
    # with an inverted timestamp)
    oldest = (
        "(excluded._created_at < _created_at OR "
        "(excluded._created_at = _created_at AND excluded._created_by > _created_by))"
    )
    for column in ("_created_at", "_created_by"):
        sets.append(f"{column} = CASE WHEN {oldest} THEN excluded.{column} ELSE {column} END")
    return sets


@dataclass(frozen=True)
class Table:
    """The SQL of one namespace."""

    name: str
    key_columns: tuple[str, ...]
    props: tuple[Prop, ...]
    ttl_seconds: int | None
    in_index: str | None = None
    temporal: bool = False

    @classmethod
    def for_node(cls, node_type: NodeType) -> Table:
        return cls(f"node_{node_type.name}", ("id",), node_type.props, node_type.ttl_seconds)

    @classmethod
    def for_edge(cls, edge_type: EdgeType) -> Table:
        return cls(
            f"edge_{edge_type.name}",
            ("from_id", "to_id"),
            edge_type.props,
            edge_type.ttl_seconds,
            in_index=f"edge_{edge_type.name}_in",
            temporal=edge_type.temporal,
        )

    def span_index(self, near: str) -> str:
        """The time index of one direction (``from_id``: out, ``to_id``: in)."""
        return f"{self.name}_{'out' if near == 'from_id' else 'in'}_span"

    def retired_indexes(self) -> list[str]:
        """Indexes of earlier layouts that this one replaced (dropped at a migration):
        the end indexes on ``(near, p_valid_to)``, which read every edge ending after a
        window's start, its whole history after it."""
        if not self.temporal:
            return []
        return [f"{self.name}_{side}_end" for side in ("out", "in")]

    @property
    def prop_columns(self) -> list[tuple[str, str]]:
        columns = []
        for prop in self.props:
            columns.append((f"p_{prop.name}", SQL_TYPE[prop.kind]))
            columns.append((f"t_{prop.name}", "INTEGER"))
        return columns

    @property
    def all_columns(self) -> list[str]:
        return (
            list(self.key_columns)
            + [c for c, _ in self.prop_columns]
            + [c for c, _ in META_COLUMNS]
        )

    def create_sql(self) -> list[str]:
        columns = [f"{k} TEXT NOT NULL" for k in self.key_columns]
        columns += [f"{c} {t}" for c, t in self.prop_columns]
        columns += [f"{c} {t}" for c, t in META_COLUMNS]
        if self.temporal:
            columns.append(" ".join(SPAN_COLUMN))
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(columns)}, "
            f"PRIMARY KEY ({', '.join(self.key_columns)})) WITHOUT ROWID"
        ]
        if self.in_index:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {self.in_index} ON {self.name} (to_id, from_id)"
            )
        if self.temporal:
            statements += [
                f"CREATE INDEX IF NOT EXISTS {self.span_index(near)} ON {self.name} "
                f"({near}, span_class, p_valid_from)" for near in ("from_id", "to_id")
            ]
        return statements

    def upsert_sql(self) -> str:
        columns = self.all_columns
        return (
            f"INSERT INTO {self.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT ({', '.join(self.key_columns)}) DO UPDATE SET "
            + ", ".join(_merge_assignments(self.props))
        )

    def adjacency_sql(
        self, near: str, far: str, ids: list[str], window: TimeWindow | None, live: str
    ) -> tuple[str, list[Any]]:
        """The edges of ``ids`` (from the ``near`` end) overlapping ``window`` (all of
        them without one, or for a type without intervals), ordered by near and far.

        With a window start on a temporal type, one range scan of the time index
        (``span_index``) per span class: the open edges, the closed edges of each class
        starting after the window's start less the class's width, the edges without a
        start; each filtered by the window's two sides (``overlap_bounds``)."""
        marks = ",".join("?" * len(ids))
        head = f"SELECT {self.select_columns()} FROM {self.name} WHERE {near} IN ({marks})"
        order = f" ORDER BY {near}, {far}"
        if window is None or not self.temporal:
            return head + live + order, list(ids)
        filters, params = live, []
        for bound in overlap_bounds(window):  # NULL: that side is open
            if bound.column == VALID_FROM:
                filters += f" AND (p_{bound.column} IS NULL OR p_{bound.column} < ?)"
                params.append(bound.bound)
        if window.start is None:
            return head + filters + order, [*ids, *params]
        # the planner has no statistics and would walk the primary key: name the index
        indexed = head.replace(f" FROM {self.name} ",
                               f" FROM {self.name} INDEXED BY {self.span_index(near)} ")
        # the classes' starts are bounded on both sides (the start is set in every class
        # of closed spans): ranges of the index; the open edges without a start apart
        before_end = "" if window.end is None else " AND p_valid_from < ?"
        end_value: list[Any] = [] if window.end is None else [window.end]
        open_span = f"{indexed} AND span_class = {OPEN_SPAN}"
        arms: list[str] = []
        values: list[Any] = []
        if window.end is not None:  # NULL starts apart: the others' starts are a range
            arms.append(f"{open_span} AND p_valid_from IS NULL{live}")
            values += ids
        arms.append(f"{open_span}{before_end}{live}")
        values += [*ids, *end_value]
        for k, width in enumerate(SPAN_WIDTHS_US):
            arms.append(f"{indexed} AND span_class = {k} AND p_valid_from > ?{before_end} "
                        f"AND p_valid_to > ?{live}")
            values += [*ids, window.start - width, *end_value, window.start]
        arms.append(f"{indexed} AND span_class = {UNBOUNDED_SPAN} AND p_valid_to > ?{filters}")
        values += [*ids, window.start, *params]
        return " UNION ALL ".join(arms) + order, values

    def select_columns(self) -> str:
        values = [f"p_{p.name}" for p in self.props]
        meta = [c for c, _ in META_COLUMNS]
        return ", ".join([*self.key_columns, *values, *meta])


@dataclass(frozen=True)
class HistoryTable:
    """The history namespace of an edge type with a live TTL: ``hist_<type>``, one
    row per edge, event time and event id (see ``fleetgraph.storage.history``), clustered by
    event time from either end (primary key ``(from_id, ts, ...)``, index
    ``hist_<type>_in`` on ``(to_id, ts)``). ``written`` lists the properties the
    write set, so a property set empty is told from one not set."""

    name: str
    props: tuple[Prop, ...]
    retention_seconds: int | None
    # per ``written`` list: (column, property, is a bool) of the properties it set
    _written: dict[str, tuple[tuple[int, str, bool], ...]] = field(
        default_factory=dict, compare=False, repr=False)

    @classmethod
    def for_edge(cls, edge_type: EdgeType) -> HistoryTable:
        return cls(f"hist_{edge_type.name}", edge_type.props, edge_type.history_seconds)

    @property
    def columns(self) -> list[str]:
        return ["from_id", "to_id", "ts", "event_id",
                *(f"p_{p.name}" for p in self.props),
                "written", "source", "event_time", "writer"]

    def written_columns(self, written: str) -> tuple[tuple[int, str, bool], ...]:
        """Where the properties a row's ``written`` list names are in the row (``columns``)
        and whether each is a bool; worked out once per list (a type has a few)."""
        found = self._written.get(written)
        if found is None:
            names = set(written.split(",")) if written else set()
            found = self._written[written] = tuple(
                (4 + i, prop.name, prop.kind is PropKind.BOOL)
                for i, prop in enumerate(self.props) if prop.name in names)
        return found

    def create_sql(self) -> list[str]:
        values = [f"p_{p.name} {SQL_TYPE[p.kind]}" for p in self.props]
        return [
            f"CREATE TABLE IF NOT EXISTS {self.name} (from_id TEXT NOT NULL, "
            "to_id TEXT NOT NULL, ts INTEGER NOT NULL, event_id TEXT NOT NULL, "
            f"{', '.join(values)}, written TEXT NOT NULL, source TEXT NOT NULL, "
            "event_time INTEGER NOT NULL, writer TEXT NOT NULL, "
            "PRIMARY KEY (from_id, ts, to_id, event_id)) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {self.name}_in ON {self.name} (to_id, ts)",
        ]

    def insert_sql(self) -> str:
        columns = self.columns
        return (f"INSERT OR REPLACE INTO {self.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})")
