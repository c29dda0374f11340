"""path: a shortest path between two nodes over given edge types, walked both ways.

See docs/queries.md. A breadth-first search from ``from_id``: each level is one
batched ``neighbours`` read per edge type and direction (only the directions
the frontier's node types can have), over every edge, past and present, or,
with ``at``, over the edges the graph held at ``at`` (``intervals.existed_at``).
It keeps every predecessor of a node on the level before,
so when ``to_id`` is reached the answer is the shortest path that is smallest
id by id from the start: from ``from_id``, each hop goes to the smallest id
that still lies on a shortest path to ``to_id``.

Readings of the text where it leaves room
-----------------------------------------
* "Ties by smallest ids at each hop": lexicographic from the start, as above.
* ``exhausted``: true when ``maxDepth`` hops did not reach ``to_id`` and the
  search was cut: some node is more than ``maxDepth`` hops from ``from_id``
  (found by one more level of reads). False when the search ran out of nodes
  first: then there is no path at any depth.
* Each hop's edge is the smallest (type, from, to) among the edges of the given
  types between the two nodes; it keeps its stored direction.
* A path from a node to itself is that node, with no edges.
* Both ends must exist as nodes; ``maxDepth`` is between 0 and 12.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import Registry
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.intervals import existed_at
from fleetgraph.serving.queries.lookup import type_of
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

DEFAULT_DEPTH = 6
MAX_DEPTH = 12

EdgeKey = tuple[str, str, str]  # (type, from, to)


@dataclass(frozen=True, slots=True)
class PathResult:
    nodes: list[str] | None  # from ... to; None when no path was found
    edges: list[EdgeKey]  # one per hop: (type, from, to) as stored
    exhausted: bool  # the depth bound cut the search
    records: list[EdgeRecord] = field(default_factory=list, compare=False)  # the hops' edges


def shortest_path(
    store: GraphStore,
    from_id: str,
    to_id: str,
    edge_types: Sequence[str],
    max_depth: int = DEFAULT_DEPTH,
    *,
    at_us: int | None = None,
    registry: Registry = FLEET,
) -> PathResult:
    """A shortest path from ``from_id`` to ``to_id`` over ``edge_types``, both ways,
    over the edges held at ``at_us`` (``None``: every edge)."""
    types = _checked(from_id, to_id, edge_types, max_depth, registry)
    found = store.get_nodes([from_id, to_id])
    for node_id in dict.fromkeys((from_id, to_id)):
        if node_id not in found:
            raise NotFound(f"no node {node_id!r} in the graph")
    if from_id == to_id:
        return PathResult([from_id], [], False)

    search = _Search(store, types, registry, from_id, at_us)
    for _ in range(max_depth):
        if not search.expand():
            return PathResult(None, [], False)
        if to_id in search.level_of:
            return search.answer(to_id)
    return PathResult(None, [], exhausted=search.expand())


def _checked(
    from_id: str, to_id: str, edge_types: Sequence[str], max_depth: int, registry: Registry
) -> list[str]:
    type_of(from_id)
    type_of(to_id)
    if not 0 <= max_depth <= MAX_DEPTH:
        raise InvalidArgument(f"'maxDepth' must be between 0 and {MAX_DEPTH}, got {max_depth}")
    if not edge_types:
        raise InvalidArgument("'edgeTypes' must name at least one edge type")
    unknown = sorted(set(edge_types) - registry.edges.keys())
    if unknown:
        known = ", ".join(sorted(registry.edges))
        raise InvalidArgument(f"unknown edge type(s) {', '.join(unknown)}; known: {known}")
    return sorted(set(edge_types))


class _Search:
    """Breadth-first levels from one node, with every predecessor on the level before."""

    def __init__(
        self,
        store: GraphStore,
        edge_types: list[str],
        registry: Registry,
        start: str,
        at_us: int | None = None,
    ) -> None:
        self.store = store
        self.at_us = at_us
        self.window = None if at_us is None else TimeWindow.at(at_us)
        self.registry = registry
        self.edge_types = edge_types
        self.start = start
        self.level_of: dict[str, int] = {start: 0}
        self.frontier = [start]
        self.preds: dict[str, set[str]] = {}
        self.links: dict[tuple[str, str], list[EdgeRecord]] = {}

    def expand(self) -> bool:
        """Read the next level; False when it is empty."""
        depth = self.level_of[self.frontier[0]] + 1 if self.frontier else 0
        reached: set[str] = set()
        for edge_type, direction in self._reads():
            declared = self.registry.edge(edge_type)
            near_types = declared.from_types if direction is Direction.OUT else declared.to_types
            ids = [n for n in self.frontier if type_of(n) in near_types]
            if not ids:
                continue
            adjacency = self.store.neighbours(edge_type, ids, direction, self.window)
            for near in ids:
                for edge in adjacency.get(near, []):
                    if not existed_at(edge, self.at_us):
                        continue
                    far = edge.to_id if direction is Direction.OUT else edge.from_id
                    if far == near or self.level_of.get(far, depth) < depth:
                        continue
                    self.level_of[far] = depth
                    reached.add(far)
                    self.preds.setdefault(far, set()).add(near)
                    self.links.setdefault((near, far), []).append(edge)
        self.frontier = sorted(reached)
        return bool(reached)

    def _reads(self) -> list[tuple[str, Direction]]:
        return [(t, d) for t in self.edge_types for d in (Direction.OUT, Direction.IN)]

    def answer(self, target: str) -> PathResult:
        """The shortest path to ``target`` that is smallest id by id from the start."""
        on_path = {target}
        queue = [target]
        while queue:
            node = queue.pop()
            for pred in self.preds.get(node, ()):
                if pred not in on_path:
                    on_path.add(pred)
                    queue.append(pred)
        successors: dict[str, list[str]] = {}
        for node in on_path:
            for pred in self.preds.get(node, ()):
                successors.setdefault(pred, []).append(node)
        nodes = [self.start]
        records: list[EdgeRecord] = []
        while nodes[-1] != target:
            step = min(successors[nodes[-1]])
            records.append(
                min(self.links[(nodes[-1], step)], key=lambda e: (e.type, e.from_id, e.to_id))
            )
            nodes.append(step)
        return PathResult(
            nodes, [(e.type, e.from_id, e.to_id) for e in records], False, records
        )
