"""blastRadius: what a component's failure takes down or degrades at a time, with
redundancy; and ``fleet_state``, the down / degraded state of part of the fleet.

See docs/queries.md. Dependencies (X depends on Y), every edge valid at ``at``
(its interval contains ``at``):

* cooling: rack -> cdu (``cooled_by``); power: rack -> power_shelf (``powered_by``);
* network: rack -> switch (the switch's ``in_rack`` edge to the rack);
* containment: server -> rack (``in_rack``), gpu -> server (``in_server``),
  rack, cdu, power_shelf, switch -> site (``in_site``), instrument -> site
  (``attached_to``).

*Down*: the components in fault at ``at`` (plus the seeds given), then, until
nothing changes, a node all of whose dependencies of one kind among cooling,
power and network are down (a kind it has none of does not count), and a node
with a down container. *Degraded* (and not down): a node with a down cooling,
power or network dependency, and a node with a degraded container.

How the graph is read
---------------------
Only the part of the fleet that can matter is loaded: components are never
shared across sites, so the failed component's site(s) (found by walking up
``in_server`` / ``in_rack`` / ``in_site`` / ``attached_to``, switches also
through their rack) and everything in them. With no site at ``at`` (a
component taken out of its site), the topmost container reached stands in for
the site. Then one batched read per hop, whatever the size of the site:
``in_site`` and ``attached_to`` into the sites; ``in_rack`` into, ``cooled_by``
and ``powered_by`` out of the racks; ``in_server`` into the servers;
``had_fault`` out of everything loaded; and, for blastRadius, ``ran_on`` into
the impacted servers.

Readings of the text where it leaves room
-----------------------------------------
* The baseline ("without the failed component down") leaves the failed
  component up even when it has a ``had_fault`` edge at ``at``: the question is
  what its failure changes, so asking about a recorded failure while it lasts
  gives that failure's blast radius, not an empty answer. ``alreadyInFault`` is
  likewise every *other* component in fault at ``at``, and only among the
  components loaded (the failed component's site(s)), by id.
* A switch's ``in_rack`` edge is a network dependency of the rack and nothing
  else: a switch is contained only by its site (``in_site``); a ToR switch that
  has only an ``in_rack`` edge has no container, so a site failure does not
  list it, and a rack failure does not take its switch down.
* "anything whose container is down": any one of its containers (a node has one
  in practice).
* The path walk goes over every dependent, impacted or not (one already down
  stays on the way to the nodes it contains); an item's ``path`` starts with the
  failed component and ends with the item. ``dependency`` says why the item is
  impacted: the kind of the path's first step that is not containment (a CDU's
  racks, their servers and GPUs all say cooling), or containment when every step
  is (what a failed site, rack or server holds).
* ``jobs`` lists the jobs of every impacted server, also when ``limit`` cut
  ``items`` (``limit`` bounds the items only); one entry per (job, server).
* Only the component types that can be in fault (site, rack, cdu, power_shelf,
  server, gpu, switch, instrument) have a blast radius; other ids are an
  invalid argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from fleetgraph.graph_model.fleet import COMPONENT_TYPES, UP_EDGES
from fleetgraph.ingest.read_models.fleet_state import (
    CONTAINMENT,
    DEGRADED,
    DOWN,
    OK,
    DependencyGraph,
    DependencyKind,
    EdgeReader,
    FleetState,
    ImpactLevel,
    load_topology,
)
from fleetgraph.ingest.read_models.fleet_state import fleet_state as _fleet_state
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.lookup import kind_of, type_of
from fleetgraph.storage.base import Direction, GraphStore

DEFAULT_LIMIT = 10_000


# --- answers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Impacted:
    """A component the failure makes worse: DOWN (was not down) or DEGRADED (was fine)."""

    id: str
    type: str
    impact: ImpactLevel
    dependency: DependencyKind | None  # why: the path's first step other than containment
    path: list[str] | None  # failed component ... this one (None: no walk reached it)


@dataclass(frozen=True, slots=True)
class ImpactedJob:
    """A job running at ``at`` on an impacted server, with that server's impact."""

    job_id: str
    server_id: str
    impact: ImpactLevel


@dataclass(frozen=True, slots=True)
class BlastRadius:
    items: list[Impacted]  # DOWN first, then by id; at most ``limit``
    already_in_fault: list[str]  # other components in fault at ``at``, by id
    jobs: list[ImpactedJob]  # by job, then server
    truncated: bool  # the limit cut ``items``


# --- the dependency graph and the state (fleetgraph.ingest.read_models.fleet_state) ----


def fleet_state(
    store: GraphStore,
    site_ids: Sequence[str],
    at_us: int,
    extra_down: frozenset[str] = frozenset(),
) -> FleetState:
    """The down / degraded state at ``at_us`` of everything in ``site_ids`` (well-formed
    ids, else InvalidArgument): :func:`fleetgraph.ingest.read_models.fleet_state.fleet_state`."""
    for node_id in site_ids:
        type_of(node_id)
    return _fleet_state(store, site_ids, at_us, extra_down)


# --- reading the topology -------------------------------------------------------------


def scope_roots(store: GraphStore, component_id: str, at_us: int) -> tuple[list[str], bool]:
    """The site(s) of a component at ``at_us``, found by walking up its containers
    (one batched read per level and edge type); without a site, the topmost node
    reached. Also says whether any edge was found on the way."""
    if type_of(component_id) == "site":
        return [component_id], False
    reader = EdgeReader(store, at_us)
    frontier, seen, top = [component_id], {component_id}, [component_id]
    sites: set[str] = set()
    touched = False
    while frontier:
        above: set[str] = set()
        edge_types = sorted({e for n in frontier for e in UP_EDGES.get(type_of(n), ())})
        for edge_type in edge_types:
            ids = [n for n in frontier if edge_type in UP_EDGES.get(type_of(n), ())]
            for edge in reader.edges(edge_type, ids, Direction.OUT):
                touched = True
                above.add(edge.to_id)
        sites |= {n for n in above if type_of(n) == "site"}
        frontier = sorted(n for n in above - seen if type_of(n) != "site")
        seen |= above
        if frontier:
            top = frontier
    return (sorted(sites) if sites else top), touched


# --- blastRadius ----------------------------------------------------------------------


def blast_radius(
    store: GraphStore, component_id: str, at_us: int, limit: int = DEFAULT_LIMIT
) -> BlastRadius:
    """What a failure of ``component_id`` at ``at_us`` takes down or degrades."""
    if limit < 1:
        raise InvalidArgument(f"limit must be at least 1, got {limit}")
    kind = type_of(component_id)
    if kind not in COMPONENT_TYPES:
        known = ", ".join(sorted(COMPONENT_TYPES))
        raise InvalidArgument(f"{component_id!r} is not a component that can fail ({known})")
    found, (roots, touched) = store.together(
        lambda: store.get_nodes([component_id]),
        lambda: scope_roots(store, component_id, at_us))
    topology = load_topology(store, roots, at_us)
    if not found and not touched and not topology.graph.touches(component_id) and (
        component_id not in topology.in_fault
    ):
        raise NotFound(f"no component {component_id!r} in the graph")

    others = topology.in_fault - {component_id}
    before = FleetState.of(topology, others)
    after = FleetState.of(topology, others | {component_id})
    impacts: dict[str, ImpactLevel] = {}
    for node in topology.components - {component_id}:
        now, then = after.health(node), before.health(node)
        if now == DOWN and then != DOWN:
            impacts[node] = DOWN
        elif now == DEGRADED and then == OK:
            impacts[node] = DEGRADED

    parents = dependents_walk(topology.graph, component_id)
    items = sorted(
        (_item(topology.graph, parents, node, impact) for node, impact in impacts.items()),
        key=lambda i: (i.impact != DOWN, i.id),
    )
    servers = [n for n in impacts if kind_of(n) == "server"]
    jobs = sorted(
        (
            ImpactedJob(edge.from_id, edge.to_id, impacts[edge.to_id])
            for edge in EdgeReader(store, at_us).edges("ran_on", servers, Direction.IN)
            if kind_of(edge.from_id) == "job"
        ),
        key=lambda j: (j.job_id, j.server_id),
    )
    return BlastRadius(items[:limit], sorted(others), jobs, len(items) > limit)


def dependents_walk(graph: DependencyGraph, start: str) -> dict[str, str | None]:
    """Breadth-first over dependents from ``start``: each frontier in id order, each
    node's dependents in id order; a node's parent is the first node that reached it."""
    parents: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        reached: list[str] = []
        for node in frontier:
            for dependent in sorted(graph.dependents.get(node, {})):
                if dependent not in parents:
                    parents[dependent] = node
                    reached.append(dependent)
        frontier = sorted(reached)
    return parents


def _item(
    graph: DependencyGraph, parents: dict[str, str | None], node: str, impact: ImpactLevel
) -> Impacted:
    if node not in parents:
        return Impacted(node, type_of(node), impact, None, None)
    path = [node]
    while (parent := parents[path[-1]]) is not None:
        path.append(parent)
    path.reverse()
    return Impacted(node, type_of(node), impact, cause(graph, path), path)


def cause(graph: DependencyGraph, path: Sequence[str]) -> DependencyKind | None:
    """Why the last node of ``path`` (a walk from the failed component over dependents)
    is impacted: the kind of the first step that is not containment (a rack's CDU,
    power shelf or switch, and everything the rack holds with it), or containment
    when every step is (the failed component holds it)."""
    kinds = [graph.dependencies[node][on] for on, node in pairwise(path)]
    return next((k for k in kinds if k != CONTAINMENT), CONTAINMENT) if kinds else None
