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
  failed component and ends with the item. ``dependency`` is the kind of the
  edge from the item's parent in the walk to the item.
* ``jobs`` lists the jobs of every impacted server, also when ``limit`` cut
  ``items`` (``limit`` bounds the items only); one entry per (job, server).
* Only the component types that can be in fault (site, rack, cdu, power_shelf,
  server, gpu, switch, instrument) have a blast radius; other ids are an
  invalid argument.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from fleetgraph.graph_model.fleet import COMPONENT_TYPES, UP_EDGES
from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.intervals import valid_at
from fleetgraph.serving.queries.lookup import kind_of, type_of
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

DEFAULT_LIMIT = 10_000

Health = Literal["DOWN", "DEGRADED", "OK"]
ImpactLevel = Literal["DOWN", "DEGRADED"]
DependencyKind = Literal["cooling", "power", "network", "containment"]
DOWN: ImpactLevel = "DOWN"
DEGRADED: ImpactLevel = "DEGRADED"
OK: Health = "OK"
COOLING: DependencyKind = "cooling"
POWER: DependencyKind = "power"
NETWORK: DependencyKind = "network"
CONTAINMENT: DependencyKind = "containment"
REDUNDANT_KINDS: tuple[DependencyKind, ...] = (COOLING, POWER, NETWORK)


# --- answers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Impacted:
    """A component the failure makes worse: DOWN (was not down) or DEGRADED (was fine)."""

    id: str
    type: str
    impact: ImpactLevel
    dependency: DependencyKind | None  # kind of the path's last step
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


# --- the dependency graph and the state ------------------------------------------------


@dataclass
class DependencyGraph:
    """Typed dependencies valid at one time: X depends on Y with a kind."""

    dependencies: dict[str, dict[str, DependencyKind]] = field(default_factory=dict)
    dependents: dict[str, dict[str, DependencyKind]] = field(default_factory=dict)

    def add(self, node: str, on: str, kind: DependencyKind) -> None:
        """``node`` depends on ``on``."""
        self.dependencies.setdefault(node, {})[on] = kind
        self.dependents.setdefault(on, {})[node] = kind

    def nodes(self) -> set[str]:
        return set(self.dependencies) | set(self.dependents)

    def touches(self, node: str) -> bool:
        return node in self.dependencies or node in self.dependents

    def contents(self, container: str, node_type: str | None = None) -> list[str]:
        """What ``container`` contains directly (of ``node_type`` if given), by id."""
        return sorted(
            x
            for x, kind in self.dependents.get(container, {}).items()
            if kind == CONTAINMENT and (node_type is None or kind_of(x) == node_type)
        )

    def containers(self, node: str) -> list[str]:
        return sorted(y for y, k in self.dependencies.get(node, {}).items() if k == CONTAINMENT)


@dataclass(frozen=True)
class Topology:
    """The part of the fleet loaded at ``at_us``: its components, their dependencies
    and which of them are in fault."""

    at_us: int
    roots: tuple[str, ...]  # the sites (or stand-ins) it was loaded from
    components: frozenset[str]
    graph: DependencyGraph
    in_fault: frozenset[str]  # components with a had_fault edge valid at ``at_us``


@dataclass(frozen=True)
class FleetState:
    """Which components of a topology are down or degraded (docs/queries.md).

    A rack is *healthy* when it is neither down nor degraded. ``contents`` gives
    what a site, rack or server holds at ``at_us`` (e.g. a site's racks).
    """

    topology: Topology
    down: frozenset[str]
    degraded: frozenset[str]

    @classmethod
    def of(cls, topology: Topology, down: Iterable[str]) -> FleetState:
        """The state that follows from ``down`` (no store reads)."""
        graph = topology.graph
        down_set = _spread_down(graph, set(down))
        return cls(topology, frozenset(down_set), frozenset(_spread_degraded(graph, down_set)))

    def with_down(self, extra: Iterable[str]) -> FleetState:
        """The state with ``extra`` components down too (no store reads)."""
        return FleetState.of(self.topology, self.down | set(extra))

    def health(self, node_id: str) -> Health:
        if node_id in self.down:
            return DOWN
        return DEGRADED if node_id in self.degraded else OK

    def is_healthy(self, node_id: str) -> bool:
        return node_id not in self.down and node_id not in self.degraded

    def contents(self, container: str, node_type: str | None = None) -> list[str]:
        return self.topology.graph.contents(container, node_type)


def fleet_state(
    store: GraphStore,
    site_ids: Sequence[str],
    at_us: int,
    extra_down: frozenset[str] = frozenset(),
) -> FleetState:
    """The down / degraded state at ``at_us`` of everything in ``site_ids``.

    Loads the sites' topology (racks, CDUs, power shelves, switches, instruments,
    servers, GPUs and the faults valid at ``at_us``) in a fixed number of batched
    reads, whatever the number of sites; the components in fault at ``at_us`` and
    ``extra_down`` are down, and the rest follows. A non-site id in ``site_ids``
    is loaded as a root of its own (a rack or server with what it holds). Unknown
    sites just hold nothing. Used by placement: a rack is healthy when
    ``state.is_healthy(rack)``; ``state.contents(site, "rack")`` are its racks.
    """
    for node_id in site_ids:
        type_of(node_id)
    topology = load_topology(store, site_ids, at_us)
    return FleetState.of(topology, topology.in_fault | extra_down)


def _spread_down(graph: DependencyGraph, down: set[str]) -> set[str]:
    queue = deque(sorted(down))
    while queue:
        for node in sorted(graph.dependents.get(queue.popleft(), {})):
            if node not in down and _falls(graph.dependencies.get(node, {}), down):
                down.add(node)
                queue.append(node)
    return down


def _falls(dependencies: Mapping[str, DependencyKind], down: set[str]) -> bool:
    """Down by its dependencies: a container down, or every dependency of a redundant kind."""
    by_kind: dict[DependencyKind, list[bool]] = {}
    for on, kind in dependencies.items():
        by_kind.setdefault(kind, []).append(on in down)
    if any(by_kind.get(CONTAINMENT, [])):
        return True
    return any(all(by_kind[k]) for k in REDUNDANT_KINDS if by_kind.get(k))


def _spread_degraded(graph: DependencyGraph, down: set[str]) -> set[str]:
    degraded = {
        node
        for node, deps in graph.dependencies.items()
        if node not in down and any(k != CONTAINMENT and on in down for on, k in deps.items())
    }
    queue = deque(sorted(degraded))
    while queue:
        for node, kind in sorted(graph.dependents.get(queue.popleft(), {}).items()):
            if kind == CONTAINMENT and node not in down and node not in degraded:
                degraded.add(node)
                queue.append(node)
    return degraded


# --- reading the topology -------------------------------------------------------------


class _Reader:
    """Batched reads of edges valid at one time."""

    def __init__(self, store: GraphStore, at_us: int) -> None:
        self.store = store
        self.at_us = at_us
        self.window = TimeWindow.at(at_us)

    def edges(self, edge_type: str, ids: Iterable[str], direction: Direction) -> list[EdgeRecord]:
        asked = sorted(set(ids))
        if not asked:
            return []
        found = self.store.neighbours(edge_type, asked, direction, self.window)
        return [e for node in asked for e in found.get(node, []) if valid_at(e, self.at_us)]


def scope_roots(store: GraphStore, component_id: str, at_us: int) -> tuple[list[str], bool]:
    """The site(s) of a component at ``at_us``, found by walking up its containers
    (one batched read per level and edge type); without a site, the topmost node
    reached. Also says whether any edge was found on the way."""
    if type_of(component_id) == "site":
        return [component_id], False
    reader = _Reader(store, at_us)
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


def load_topology(store: GraphStore, roots: Sequence[str], at_us: int) -> Topology:
    """Everything in ``roots`` (sites, or stand-ins of other component types) at
    ``at_us``, with the dependencies among it and its faults: at most 10 batched
    reads, one per hop and edge type, skipped when a hop has no ids."""
    read = _Reader(store, at_us).edges
    graph = DependencyGraph()
    by_type: dict[str, set[str]] = {}
    for root in roots:
        by_type.setdefault(type_of(root), set()).add(root)

    def of_type(node_type: str) -> set[str]:
        return by_type.setdefault(node_type, set())

    def contained(edges: list[EdgeRecord]) -> None:
        for edge in edges:
            graph.add(edge.from_id, edge.to_id, CONTAINMENT)
            of_type(kind_of(edge.from_id)).add(edge.from_id)

    sites = of_type("site")
    contained(read("in_site", sites, Direction.IN))
    contained(read("attached_to", sites, Direction.IN))
    racks = of_type("rack")
    # stand-in roots outside any site: the racks that depend on them
    racks |= {e.from_id for e in read("cooled_by", of_type("cdu") & set(roots), Direction.IN)}
    racks |= {
        e.from_id for e in read("powered_by", of_type("power_shelf") & set(roots), Direction.IN)
    }
    racks |= {
        e.to_id
        for e in read("in_rack", of_type("switch") & set(roots), Direction.OUT)
        if kind_of(e.to_id) == "rack"
    }
    racks = {r for r in racks if kind_of(r) == "rack"}
    by_type["rack"] = racks
    for edge in read("in_rack", racks, Direction.IN):
        if kind_of(edge.from_id) == "switch":
            graph.add(edge.to_id, edge.from_id, NETWORK)
            of_type("switch").add(edge.from_id)
        else:
            contained([edge])
    for edge_type, kind in (("cooled_by", COOLING), ("powered_by", POWER)):
        for edge in read(edge_type, racks, Direction.OUT):
            graph.add(edge.from_id, edge.to_id, kind)
    contained(read("in_server", of_type("server"), Direction.IN))
    components = graph.nodes() | set(roots)
    in_fault = {e.from_id for e in read("had_fault", components, Direction.OUT)}
    return Topology(
        at_us, tuple(sorted(set(roots))), frozenset(components), graph, frozenset(in_fault)
    )


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
    found = store.get_nodes([component_id])
    roots, touched = scope_roots(store, component_id, at_us)
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
            for edge in _Reader(store, at_us).edges("ran_on", servers, Direction.IN)
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
    dependency = graph.dependencies[node][path[-2]] if len(path) > 1 else None
    return Impacted(node, type_of(node), impact, dependency, path)
