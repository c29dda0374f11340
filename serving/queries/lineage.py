"""lineage: where an artifact, model or dataset came from (UP), or what flowed from it (DOWN).

See docs/queries.md ("lineage"). A breadth-first walk, one batched store read per
edge type and hop for the whole frontier: UP, at most one ``get_nodes`` (jobs and
sites, for the pseudo steps) and seven ``neighbours`` a hop, plus three when a
job of the frontier has no ``site_id`` (see ``job_sites``); DOWN, at most five. So
at most 111 reads at depth 10, whatever the fan-out.

Steps, by the type of the node walked from:

UP
  artifact: ``derived_from`` out, ``artifact_of`` out, ``produced`` in (the jobs);
  dataset, model: ``derived_from`` out, ``produced`` in;
  job: ``read`` out, ``used_model`` out, ``launched_by`` out, ``owned_by`` out, and
  the pseudo step ``ran_at`` to the site in its ``site_id`` property (set by the
  pipeline from the placement); a job without one (its placement's server was not
  known to the topology) steps to the sites its servers were in (``in_rack`` then
  ``in_site``, valid at the start of each ``ran_on`` edge), possibly several;
  site: the pseudo step ``in_jurisdiction`` to ``jurisdiction:<code>`` (its
  ``jurisdiction`` property).
DOWN
  dataset, artifact: ``read`` in (the jobs), ``derived_from`` in;
  model: ``used_model`` in (the jobs), ``derived_from`` in, ``artifact_of`` in;
  job: ``produced`` out.

Readings of the text, where it leaves room:

* ``depth`` counts edges, 0 to 10 (outside: an error); depth 0 is the node alone.
* A node's distance is the number of edges on a shortest walk to it.
* Edges: every edge followed from a node at a distance below ``depth``, including
  those leading to a node already reached (e.g. a job's ``used_model`` to the
  model an artifact of the start already led to). Each is reported once as
  (type, from, to) in the stored direction (a ``produced`` edge walked UP is
  still job -> artifact), with ``distance`` = the hop it was walked at (the
  distance of the node walked from, plus one) and its provenance (``origin``;
  none for the pseudo steps).
* Nodes are sorted by (distance, id), edges by (distance, type, from, to).
* The node limit (default 10,000) counts every node, the start included. When
  a hop reaches more new nodes than the limit leaves room for, the first ones by
  id are kept, the others and the edges to them are left out, the walk stops
  there, and ``truncated`` is true.
* ``at`` (as of): only the edges the graph had recorded by ``at`` are walked
  (``intervals.recorded_by``: first written at or before ``at``); lineage is
  history, so an edge whose interval ended before ``at`` still counts. A job's
  ``ran_at`` site and a site's jurisdiction are read from the nodes as they are
  now. Without ``at``, every edge.
* The start must be stored, or have an edge of a step: otherwise NotFound.
  Pseudo-nodes (``jurisdiction:...``) cannot start a walk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fleetgraph.graph_model.records import NodeRecord, Origin
from fleetgraph.graph_model.types import VALID_FROM
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.intervals import recorded_by, valid_at
from fleetgraph.serving.queries.lookup import kind_of, type_of
from fleetgraph.storage.base import Direction, GraphStore

DEFAULT_DEPTH = 4
MAX_DEPTH = 10
DEFAULT_LIMIT = 10_000

LineageDirection = Literal["UP", "DOWN"]
Step = tuple[str, Direction]  # edge type, direction walked

OUT, IN = Direction.OUT, Direction.IN
STEPS: dict[LineageDirection, dict[str, tuple[Step, ...]]] = {
    "UP": {
        "artifact": (("derived_from", OUT), ("artifact_of", OUT), ("produced", IN)),
        "dataset": (("derived_from", OUT), ("produced", IN)),
        "model": (("derived_from", OUT), ("produced", IN)),
        "job": (("read", OUT), ("used_model", OUT), ("launched_by", OUT), ("owned_by", OUT)),
    },
    "DOWN": {
        "dataset": (("read", IN), ("derived_from", IN)),
        "artifact": (("read", IN), ("derived_from", IN)),
        "model": (("used_model", IN), ("derived_from", IN), ("artifact_of", IN)),
        "job": (("produced", OUT),),
    },
}
RAN_AT = "ran_at"
IN_JURISDICTION = "in_jurisdiction"
JURISDICTION_PREFIX = "jurisdiction:"


@dataclass(frozen=True, slots=True)
class LineageNode:
    id: str
    distance: int


@dataclass(frozen=True, slots=True)
class LineageEdge:
    type: str
    from_id: str
    to_id: str
    distance: int  # the hop it was walked at
    origin: Origin | None = None  # the edge's provenance; None for pseudo steps


@dataclass(frozen=True, slots=True)
class Lineage:
    nodes: list[LineageNode]  # by distance, then id
    edges: list[LineageEdge]  # by distance, type, from, to
    truncated: bool


def lineage(
    store: GraphStore,
    node_id: str,
    direction: LineageDirection,
    depth: int = DEFAULT_DEPTH,
    limit: int = DEFAULT_LIMIT,
    at_us: int | None = None,
) -> Lineage:
    """The lineage of ``node_id`` up to ``depth`` edges, at most ``limit`` nodes, as the
    graph held it at ``at_us`` (``None``: every edge)."""
    if direction not in STEPS:
        raise InvalidArgument(f"direction must be UP or DOWN, got {direction!r}")
    if not 0 <= depth <= MAX_DEPTH:
        raise InvalidArgument(f"depth must be between 0 and {MAX_DEPTH}, got {depth}")
    if limit < 1:
        raise InvalidArgument(f"limit must be at least 1, got {limit}")
    type_of(node_id)  # a malformed id is an error
    if node_id.startswith(JURISDICTION_PREFIX):
        raise InvalidArgument(f"{node_id!r} is a pseudo-node; a lineage starts at a stored node")
    records = store.get_nodes([node_id])
    distance = {node_id: 0}
    edges: dict[tuple[str, str, str], LineageEdge] = {}
    frontier = [node_id]
    truncated = False
    for hop in range(1, depth + 1):
        if not frontier:
            break
        walked = _walk(store, direction, frontier, records, hop, at_us)
        if hop == 1 and not walked and node_id not in records:
            raise NotFound(f"no node {node_id!r} in the graph")
        new = sorted({far for _, far in walked} - distance.keys())
        room = limit - len(distance)
        if len(new) > room:
            truncated = True
            new = new[: max(room, 0)]
        for reached in new:
            distance[reached] = hop
        for edge, far in walked:
            if far in distance:
                edges.setdefault((edge.type, edge.from_id, edge.to_id), edge)
        if truncated:
            break
        frontier = new
    if depth == 0 and node_id not in records:
        raise NotFound(f"no node {node_id!r} in the graph")
    nodes = sorted((LineageNode(n, d) for n, d in distance.items()),
                   key=lambda n: (n.distance, n.id))
    ordered = sorted(edges.values(), key=lambda e: (e.distance, e.type, e.from_id, e.to_id))
    return Lineage(nodes, ordered, truncated)


def _walk(
    store: GraphStore,
    direction: LineageDirection,
    frontier: list[str],
    records: dict[str, NodeRecord],
    hop: int,
    at_us: int | None = None,
) -> list[tuple[LineageEdge, str]]:
    """Every step's edges from the frontier, with the node each leads to.

    One ``neighbours`` read per (edge type, direction) for all the frontier nodes
    that take that step; UP, one ``get_nodes`` for the jobs and sites not read yet
    (for the pseudo steps). The steps' reads go to the store together
    (``GraphStore.together``: at once on a remote backend).
    """
    steps = STEPS[direction]
    asking: dict[Step, list[str]] = {}
    for near in frontier:
        for step in steps.get(kind_of(near), ()):
            asking.setdefault(step, []).append(near)

    def pseudo() -> list[tuple[LineageEdge, str]]:
        return _pseudo_steps(store, frontier, records, hop) if direction == "UP" else []

    def step_read(edge_type: str, way: Direction, ids: list[str]) -> Callable[[], Any]:
        return lambda: store.neighbours(edge_type, ids, way)

    pseudo_walked, *founds = store.run_reads(
        [pseudo, *(step_read(t, way, ids) for (t, way), ids in asking.items())])
    walked: list[tuple[LineageEdge, str]] = pseudo_walked
    for ((_, way), ids), found in zip(asking.items(), founds, strict=True):
        for near in ids:
            for record in found.get(near, []):
                if not recorded_by(record, at_us):
                    continue
                far = record.to_id if way is OUT else record.from_id
                edge = LineageEdge(record.type, record.from_id, record.to_id, hop, record.origin)
                walked.append((edge, far))
    return walked


def _pseudo_steps(
    store: GraphStore, frontier: list[str], records: dict[str, NodeRecord], hop: int
) -> list[tuple[LineageEdge, str]]:
    """UP, the pseudo steps of the frontier: its jobs' ``ran_at`` sites and its sites'
    ``in_jurisdiction`` (one ``get_nodes`` for the jobs and sites not read yet)."""
    walked: list[tuple[LineageEdge, str]] = []
    unread = [n for n in frontier if kind_of(n) in ("job", "site") and n not in records]
    if unread:
        records.update(store.get_nodes(unread))
    jobs = [n for n in frontier if kind_of(n) == "job"]
    sites_of = job_sites(store, jobs, records) if jobs else {}
    for job in jobs:
        walked.extend((LineageEdge(RAN_AT, job, site, hop), site) for site in sites_of[job])
    for near in frontier:
        if kind_of(near) == "site":
            walked.extend(_in_jurisdiction(near, records.get(near), hop))
    return walked


def _in_jurisdiction(
    site: str, record: NodeRecord | None, hop: int
) -> list[tuple[LineageEdge, str]]:
    """The pseudo step ``in_jurisdiction``: site -> ``jurisdiction:<code>``."""
    code = None if record is None else record.props.get("jurisdiction")
    if isinstance(code, str) and code:
        target = JURISDICTION_PREFIX + code
        return [(LineageEdge(IN_JURISDICTION, site, target, hop), target)]
    return []


def job_sites(
    store: GraphStore, jobs: Sequence[str], records: Mapping[str, NodeRecord]
) -> dict[str, list[str]]:
    """The site(s) each job ran at, by id.

    A job's ``site_id`` property (set by the pipeline from its placement) when it
    has one; otherwise, for each of its ``ran_on`` edges with a start t, the sites
    (``in_site``, valid at t) of the racks (``in_rack``, valid at t) of the server
    at t. A job never started has none. Without ``site_id`` missing anywhere this
    reads nothing; else three reads (``ran_on``, ``in_rack``, ``in_site``, all out)
    for all those jobs at once.
    """
    return job_sites_of(store, jobs, {job: record.props.get("site_id")
                                      for job, record in records.items()})


def job_sites_of(
    store: GraphStore, jobs: Sequence[str], site_ids: Mapping[str, object]
) -> dict[str, list[str]]:
    """:func:`job_sites` from the jobs' ``site_id`` values alone (``site_ids``: by job,
    as ``GraphStore.node_values`` gives them; a job left out has no node)."""
    sites: dict[str, list[str]] = {}
    derive: list[str] = []
    for job in dict.fromkeys(jobs):
        site = site_ids.get(job)
        if isinstance(site, str) and site:
            sites[job] = [site]
        else:
            sites[job] = []
            derive.append(job)
    if not derive:
        return sites
    ran = store.neighbours("ran_on", derive, OUT)
    starts = [
        (job, e.to_id, e.props[VALID_FROM])
        for job in derive
        for e in ran.get(job, [])
        if e.props.get(VALID_FROM) is not None
    ]
    if not starts:
        return sites
    servers = list(dict.fromkeys(server for _, server, _ in starts))
    racks = store.neighbours("in_rack", servers, OUT)
    rack_ids = list(dict.fromkeys(
        e.to_id for edges in racks.values() for e in edges if kind_of(e.to_id) == "rack"
    ))
    homes = store.neighbours("in_site", rack_ids, OUT) if rack_ids else {}
    found: dict[str, set[str]] = {}
    for job, server, t in starts:
        for rack in racks.get(server, []):
            if kind_of(rack.to_id) != "rack" or not valid_at(rack, t):
                continue
            for home in homes.get(rack.to_id, []):
                if kind_of(home.to_id) == "site" and valid_at(home, t):
                    found.setdefault(job, set()).add(home.to_id)
    for job, where in found.items():
        sites[job] = sorted(where)
    return sites
