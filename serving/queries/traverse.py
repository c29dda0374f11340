"""Bounded generic traversal and property search, for the ops explorer.

A traversal starts at one node and follows steps; each step is one edge type
in one direction (optionally only edges valid at an instant, and only to nodes
whose properties pass filters). Each step is one batched neighbours read (and
one batched node read when it filters). A frontier larger than
``max_frontier`` is cut to its smallest ids and the answer says so: an
explorer never gets a silently partial answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetgraph.graph_model.records import NodeRecord
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

MAX_FRONTIER = 10_000
MAX_STEPS = 8
Op = Literal["EQ", "NE", "LT", "GT"]


@dataclass(frozen=True)
class PropertyFilter:
    prop: str
    op: Op
    value: Any

    def matches(self, record: NodeRecord) -> bool:
        actual = record.props.get(self.prop)
        if self.op == "EQ":
            return bool(actual == self.value)
        if self.op == "NE":
            return bool(actual != self.value)
        if actual is None or self.value is None:
            return False
        try:
            return bool(actual < self.value if self.op == "LT" else actual > self.value)
        except TypeError:
            raise InvalidArgument(
                f"cannot compare {self.prop}={actual!r} with {self.value!r}"
            ) from None


@dataclass(frozen=True)
class Step:
    edge_type: str
    direction: Direction = Direction.OUT
    at: int | None = None
    where: tuple[PropertyFilter, ...] = ()


@dataclass
class Traversal:
    ids: list[str]  # the last frontier, sorted
    frontier_sizes: list[int] = field(default_factory=list)  # before any cut
    truncated_at_step: int | None = None  # 1-based step whose frontier was cut

    @property
    def truncated(self) -> bool:
        return self.truncated_at_step is not None


def traverse(
    store: GraphStore, start: str, steps: Sequence[Step], max_frontier: int = MAX_FRONTIER
) -> Traversal:
    if not 1 <= len(steps) <= MAX_STEPS:
        raise InvalidArgument(f"a traversal takes 1 to {MAX_STEPS} steps, got {len(steps)}")
    result = Traversal([start])
    frontier = [start]
    for number, step in enumerate(steps, start=1):
        window = TimeWindow.at(step.at) if step.at is not None else None
        adjacency = store.neighbours(step.edge_type, frontier, step.direction, window)
        reached = sorted({edge.other(node) for node, edges in adjacency.items()
                          for edge in edges})
        if step.where:
            found = store.get_nodes(reached)
            reached = [i for i in reached
                       if i in found and all(f.matches(found[i]) for f in step.where)]
        result.frontier_sizes.append(len(reached))
        if len(reached) > max_frontier:
            reached = reached[:max_frontier]
            if result.truncated_at_step is None:
                result.truncated_at_step = number
        frontier = reached
        if not frontier:
            break
    result.ids = frontier
    return result


@dataclass
class Search:
    records: list[NodeRecord]
    next_after: str | None  # opaque; None when the type was scanned whole
    scanned: int


def search_nodes(
    store: GraphStore,
    node_type: str,
    where: Sequence[PropertyFilter],
    first: int,
    after: str | None = None,
    max_scanned: int = 100_000,
) -> Search:
    """Nodes of a type whose properties pass every filter, in the store's scan order.

    The cursor is ``<scan cursor>#<records to skip in that page>``, so a search
    can stop in the middle of a page whatever a backend's scan cursors are.
    """
    cursor, skip = _split(after)
    records: list[NodeRecord] = []
    scanned = 0
    while scanned < max_scanned:
        page = store.scan_nodes(node_type, cursor, 1000)
        for index in range(skip, len(page.records)):
            record = page.records[index]
            scanned += 1
            if all(f.matches(record) for f in where):
                records.append(record)
                if len(records) == first:
                    if index + 1 < len(page.records):
                        return Search(records, f"{cursor or ''}#{index + 1}", scanned)
                    return Search(records, _join(page.next_after), scanned)
        if page.next_after is None:
            return Search(records, None, scanned)
        cursor, skip = page.next_after, 0
    return Search(records, _join(cursor), scanned)


def _split(after: str | None) -> tuple[str | None, int]:
    if not after:
        return None, 0
    cursor, sep, skip = after.rpartition("#")
    if not sep or not (skip.isascii() and skip.isdigit()):  # "²".isdigit() is True
        raise InvalidArgument(f"{after!r} is not a search cursor")
    return cursor or None, int(skip)


def _join(cursor: str | None) -> str | None:
    return None if cursor is None else f"{cursor}#0"
