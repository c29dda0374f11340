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
A temporal edge type also has the time indexes ``edge_<type>_out_end`` on
``(from_id, p_valid_to)`` and ``edge_<type>_in_end`` on ``(to_id, p_valid_to)``: a
window read takes the open edges (``p_valid_to IS NULL``) and those ending after the
window's start as two range scans of one index (see ``window_sql``).
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

    def end_index(self, near: str) -> str:
        """The time index of one direction (``from_id``: out, ``to_id``: in)."""
        return f"{self.name}_{'out' if near == 'from_id' else 'in'}_end"

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
                f"CREATE INDEX IF NOT EXISTS {self.end_index(near)} ON {self.name} "
                f"({near}, p_valid_to)" for near in ("from_id", "to_id")
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

        With a window start on a temporal type, two range scans of the time index
        (``end_index``): the open edges and those ending after the start; the start
        side of the window (``valid_from < end``) filters what they find."""
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
                               f" FROM {self.name} INDEXED BY {self.end_index(near)} ")
        sql = (f"{indexed} AND p_valid_to IS NULL{filters} UNION ALL "
               f"{indexed} AND p_valid_to > ?{filters}{order}")
        return sql, [*ids, *params, *ids, window.start, *params]

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
