"""componentTimeline: everything that happened to a component in a window, oldest first.

See docs/queries.md. The items:

* ``FAULT_OPENED`` / ``FAULT_CLEARED``: the ``valid_from`` / ``valid_to`` of the
  component's ``had_fault`` edges (other id: the fault);
* ``LINKED`` / ``UNLINKED``: the bounds of its ``cooled_by``, ``powered_by`` and
  containment edges (``in_site``, ``in_rack``, ``in_server``, ``attached_to``),
  out of it and into it (other id: the far end);
* ``JOB_STARTED`` / ``JOB_ENDED``: for a server, the bounds of the ``ran_on``
  edges into it (other id: the job);
* ``JOB_AFFECTED``: the affectedJobs rows of the component, at their overlap
  start (other id: the job; edge type ``ran_on``).

Readings of the text where it leaves room
-----------------------------------------
* A bound is in the window ``[from, to)`` when ``from <= t < to``; an open bound
  (no ``valid_from`` / ``valid_to``, or an unbounded overlap start) is not an
  event and is left out.
* The affectedJobs rows are those over all time, kept when their overlap start
  is in the window: a job affected since before the window is not shown as
  affected at the window's start (the start of a row cut to the window is not
  an event).
* Identical items are listed once (a job on two servers of a failed rack, with
  the same overlap start, is one JOB_AFFECTED item); the rows are not limited.
* Every ``in_rack`` edge counts as containment here, a switch's too.
* Items are sorted by time, then kind (by name), then other id, then edge type.

Store reads: those of affectedJobs over all time (which also checks that the
component exists), then one batched read per edge type and direction that the
component's type can have: a fixed number, whatever the number of edges.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum

from fleetgraph.graph_model.fleet import FLEET, LINK_EDGES
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO, Registry
from fleetgraph.serving.queries.affected_jobs import affected_jobs
from fleetgraph.serving.queries.lookup import type_of
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow


class TimelineKind(Enum):
    FAULT_OPENED = "FAULT_OPENED"
    FAULT_CLEARED = "FAULT_CLEARED"
    LINKED = "LINKED"
    UNLINKED = "UNLINKED"
    JOB_STARTED = "JOB_STARTED"
    JOB_ENDED = "JOB_ENDED"
    JOB_AFFECTED = "JOB_AFFECTED"


# (edge type, direction, kind at valid_from, kind at valid_to)
_Read = tuple[str, Direction, TimelineKind, TimelineKind]


@dataclass(frozen=True, slots=True)
class TimelineItem:
    time: int  # µs
    kind: TimelineKind
    other_id: str
    edge_type: str


def component_timeline(
    store: GraphStore,
    component_id: str,
    window: TimeWindow = TimeWindow(),  # noqa: B008 - immutable
    *,
    registry: Registry = FLEET,
) -> list[TimelineItem]:
    """What happened to ``component_id`` within ``window``, oldest first."""
    kind = type_of(component_id)
    rows = affected_jobs(store, component_id, TimeWindow(), limit=sys.maxsize).items
    items = {
        TimelineItem(r.overlap_from, TimelineKind.JOB_AFFECTED, r.job_id, "ran_on")
        for r in rows
        if r.overlap_from is not None and _inside(r.overlap_from, window)
    }
    # widened by 1 µs: an edge ending exactly at ``from`` does not overlap the window,
    # but its end is in it
    wide = TimeWindow(None if window.start is None else window.start - 1, window.end)
    for edge_type, direction, opened, closed in _reads(kind, registry):
        adjacency = store.neighbours(edge_type, [component_id], direction, wide)
        for edge in adjacency.get(component_id, []):
            other = edge.to_id if direction is Direction.OUT else edge.from_id
            for bound, event in ((VALID_FROM, opened), (VALID_TO, closed)):
                t = edge.props.get(bound)
                if t is not None and _inside(t, window):
                    items.add(TimelineItem(t, event, other, edge_type))
    return sorted(items, key=lambda i: (i.time, i.kind.value, i.other_id, i.edge_type))


def _reads(kind: str, registry: Registry) -> list[_Read]:
    """The (edge type, direction) pairs a component of type ``kind`` can have."""
    reads: list[_Read] = []
    if kind in registry.edge("had_fault").from_types:
        reads.append(
            ("had_fault", Direction.OUT, TimelineKind.FAULT_OPENED, TimelineKind.FAULT_CLEARED)
        )
    for name in LINK_EDGES:
        edge_type = registry.edge(name)
        for types, direction in (
            (edge_type.from_types, Direction.OUT),
            (edge_type.to_types, Direction.IN),
        ):
            if kind in types:
                reads.append((name, direction, TimelineKind.LINKED, TimelineKind.UNLINKED))
    if kind == "server":
        reads.append(("ran_on", Direction.IN, TimelineKind.JOB_STARTED, TimelineKind.JOB_ENDED))
    return reads


def _inside(t: int, window: TimeWindow) -> bool:
    return (window.start is None or window.start <= t) and (window.end is None or t < window.end)
