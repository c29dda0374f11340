"""The down / degraded state of part of the fleet at one time (``fleet_state``), as
blastRadius and placement define it (docs/queries.md, "blastRadius"): the dependency
graph of some sites at ``at`` read in a fixed number of batched store calls, the
components in fault then, and what follows from them.

It lives here, below serving, because the pipeline's read models
(:mod:`fleetgraph.ingest.read_models.site_state`) compute each site's state with this
same code as the queries do; ``fleetgraph.serving.queries.blast_radius`` re-exports it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from fleetgraph.graph_model.intervals import Interval, valid_at
from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

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

def kind_of(node_id: str) -> str:
    """The type prefix of an id read from the store, unchecked."""
    return node_id.partition(":")[0]


def _interval(edge: EdgeRecord) -> Interval:
    return edge.props.get(VALID_FROM), edge.props.get(VALID_TO)


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


class EdgeReader:
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
        return [
            e for node in asked for e in found.get(node, []) if valid_at(_interval(e), self.at_us)
        ]


def load_topology(store: GraphStore, roots: Sequence[str], at_us: int) -> Topology:
    """Everything in ``roots`` (sites, or stand-ins of other component types) at
    ``at_us``, with the dependencies among it and its faults: at most 10 batched
    reads, one per hop and edge type, skipped when a hop has no ids; five hops, the
    reads of one hop together."""
    read = EdgeReader(store, at_us).edges
    graph = DependencyGraph()
    by_type: dict[str, set[str]] = {}
    for root in roots:
        by_type.setdefault(kind_of(root), set()).add(root)

    def of_type(node_type: str) -> set[str]:
        return by_type.setdefault(node_type, set())

    def contained(edges: list[EdgeRecord]) -> None:
        for edge in edges:
            graph.add(edge.from_id, edge.to_id, CONTAINMENT)
            of_type(kind_of(edge.from_id)).add(edge.from_id)

    # the reads of one hop that do not wait for each other go together (at once on a
    # remote backend: GraphStore.together)
    sites = of_type("site")
    in_site, attached = store.together(lambda: read("in_site", sites, Direction.IN),
                                       lambda: read("attached_to", sites, Direction.IN))
    contained(in_site)
    contained(attached)
    racks = of_type("rack")
    # stand-in roots outside any site: the racks that depend on them
    cdus, shelves, switches = (of_type(t) & set(roots) for t in ("cdu", "power_shelf", "switch"))
    cooled, powered, networked = store.together(
        lambda: read("cooled_by", cdus, Direction.IN),
        lambda: read("powered_by", shelves, Direction.IN),
        lambda: read("in_rack", switches, Direction.OUT))
    racks |= {e.from_id for e in cooled} | {e.from_id for e in powered}
    racks |= {e.to_id for e in networked if kind_of(e.to_id) == "rack"}
    racks = {r for r in racks if kind_of(r) == "rack"}
    by_type["rack"] = racks
    held, cooling, power = store.together(lambda: read("in_rack", racks, Direction.IN),
                                          lambda: read("cooled_by", racks, Direction.OUT),
                                          lambda: read("powered_by", racks, Direction.OUT))
    for edge in held:
        if kind_of(edge.from_id) == "switch":
            graph.add(edge.to_id, edge.from_id, NETWORK)
            of_type("switch").add(edge.from_id)
        else:
            contained([edge])
    for edges, kind in ((cooling, COOLING), (power, POWER)):
        for edge in edges:
            graph.add(edge.from_id, edge.to_id, kind)
    contained(read("in_server", of_type("server"), Direction.IN))
    components = graph.nodes() | set(roots)
    in_fault = {e.from_id for e in read("had_fault", components, Direction.OUT)}
    return Topology(
        at_us, tuple(sorted(set(roots))), frozenset(components), graph, frozenset(in_fault)
    )
