"""Small reads shared by the headline queries: ids, existence, edge choice."""

from __future__ import annotations

from collections.abc import Sequence

from fleetgraph.graph_model.ids import parse_id
from fleetgraph.graph_model.intervals import Interval, overlaps
from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM, GraphModelError
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.queries.intervals import interval_of


def type_of(node_id: str) -> str:
    """The node type of a well-formed id, or InvalidArgument."""
    try:
        return parse_id(node_id)[0]
    except GraphModelError as exc:
        raise InvalidArgument(str(exc)) from exc


def kind_of(node_id: str) -> str:
    """The type prefix of an id read from the store, unchecked (the store only holds
    well-formed ids; a property may hold any text, which then has no known type)."""
    return node_id.partition(":")[0]


def pick_target(edges: Sequence[EdgeRecord], window: Interval) -> str | None:
    """The far end of the edge that best stands for ``window``.

    Among the edges overlapping ``window`` (or all of them when none does): the
    latest ``valid_from`` (an unbounded start last), then the lowest id.
    """
    if not edges:
        return None
    live = [e for e in edges if overlaps(interval_of(e), window)]
    pool = live or list(edges)

    def key(edge: EdgeRecord) -> tuple[bool, int, str]:
        start = edge.props.get(VALID_FROM)
        return start is None, -(start or 0), edge.to_id

    return min(pool, key=key).to_id
