"""The validity intervals of edges, read with the one declaration of their
semantics, :mod:`fleetgraph.graph_model.intervals` (half-open ``[start, end)``;
``None`` leaves a side unbounded)."""

from __future__ import annotations

from fleetgraph.graph_model.intervals import Interval, contains
from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO


def interval_of(edge: EdgeRecord) -> Interval:
    return edge.props.get(VALID_FROM), edge.props.get(VALID_TO)


def existed_at(edge: EdgeRecord, at_us: int | None) -> bool:
    """The graph held ``edge`` at ``at_us`` (docs/queries.md, "as of"): its first write
    has an event time at or before ``at_us``, and its validity interval, if it has one,
    contains ``at_us``. ``None`` means no time filter."""
    if at_us is None:
        return True
    return recorded_by(edge, at_us) and valid_at(edge, at_us)


def valid_at(edge: EdgeRecord, at_us: int) -> bool:
    """The edge's interval contains ``at_us`` (no interval: always)."""
    return contains(interval_of(edge), at_us)


def recorded_by(edge: EdgeRecord, at_us: int | None) -> bool:
    """The edge's first write has an event time at or before ``at_us`` (``None``: always):
    the graph knew of it then, whatever its interval (history stays history)."""
    return at_us is None or edge.origin is None or edge.origin.created_at <= at_us
