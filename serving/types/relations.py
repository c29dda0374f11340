"""Relationship fields: follow one edge type from a node, one batched read per hop.

``at`` keeps only the edges valid at that instant; without it every edge counts,
past and present. A single-valued relationship (a rack's site) picks, among the
edges kept, the one with the latest ``valid_from``, then the lowest id. ``kind``
(:class:`~fleetgraph.serving.types.node.NodeKind`) names the class at the far end:
only the edges to nodes of that type count (``NODE``: any), and the answer is typed
with it.
"""

from __future__ import annotations

from datetime import datetime

from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM
from fleetgraph.serving.context import Info
from fleetgraph.serving.types.node import N, NodeKind
from fleetgraph.serving.windows import as_of
from fleetgraph.storage.base import Direction, TimeWindow

OUT, IN = Direction.OUT, Direction.IN


def far_id(edge: EdgeRecord, direction: Direction) -> str:
    return edge.to_id if direction is Direction.OUT else edge.from_id


async def edges(
    info: Info, node_id: str, edge_type: str, direction: Direction, window: TimeWindow | None
) -> list[EdgeRecord]:
    loader = info.context.loaders.neighbours(edge_type, direction, window)
    return await loader.load(node_id)


async def _far_edges(
    info: Info,
    node_id: str,
    edge_type: str,
    direction: Direction,
    kind: NodeKind[N],
    at: datetime | None,
) -> list[EdgeRecord]:
    found = await edges(info, node_id, edge_type, direction, as_of(at))
    if kind.type_name is None:
        return found
    return [e for e in found if kind.holds(far_id(e, direction))]


async def related(
    info: Info,
    node_id: str,
    edge_type: str,
    direction: Direction,
    kind: NodeKind[N],
    at: datetime | None = None,
) -> list[N]:
    """The nodes of ``kind`` at the far end of ``node_id``'s edges."""
    found = await _far_edges(info, node_id, edge_type, direction, kind, at)
    ids = [far_id(e, direction) for e in found]
    records = await info.context.loaders.nodes.load_many(ids)
    return [kind.of(r) for r in records if r is not None]


async def related_one(
    info: Info,
    node_id: str,
    edge_type: str,
    direction: Direction,
    kind: NodeKind[N],
    at: datetime | None = None,
) -> N | None:
    """The node of ``kind`` at the far end of the edge that stands for ``at`` (or now)."""
    found = await _far_edges(info, node_id, edge_type, direction, kind, at)
    if not found:
        return None

    def latest_first(edge: EdgeRecord) -> tuple[bool, int, str]:
        start = edge.props.get(VALID_FROM)
        return start is None, -(start or 0), far_id(edge, direction)

    chosen = far_id(min(found, key=latest_first), direction)
    record = await info.context.loaders.nodes.load(chosen)
    return None if record is None else kind.of(record)


async def node_by_id(info: Info, node_id: str | None, kind: NodeKind[N]) -> N | None:
    """The node of ``kind`` named by an id held in a property (``None`` for none, not
    found, or the id of a node of another type)."""
    if node_id is None or not kind.holds(node_id):
        return None
    record = await info.context.loaders.nodes.load(node_id)
    return None if record is None else kind.of(record)
