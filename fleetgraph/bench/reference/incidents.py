"""Reference answers of the incident queries: blastRadius, componentTimeline, path.

Written from ``docs/queries.md`` alone (section "The queries for the four users"),
on the graph of :func:`fleetgraph.bench.reference.graph.build_graph`; it imports nothing from the
product. Times are integer microseconds; ``None`` is an unbounded end.

An edge *is valid at t* when ``valid_from`` (``None`` = -inf) <= t < ``valid_to``
(``None`` = +inf); edges without an interval always are; an empty interval
``[t, t)`` never is. A component is *in fault at t* when one of its ``had_fault``
edges is valid at t.

Interpretations where the docs leave room
-----------------------------------------
Dependencies and fleet state (shared with placement, :func:`fleet_state`)
* The dependency edges are typed by their source, literally as listed:
  ``cooled_by``/``powered_by`` from a ``rack:`` (cooling/power, rack -> target);
  ``in_rack`` from a ``switch:`` makes the *rack* depend on the switch (network) and
  the switch does not depend on the rack; ``in_rack`` from a ``server:``, ``in_server``
  from a ``gpu:``, ``in_site`` from a ``rack:``/``cdu:``/``power_shelf:``/``switch:``
  and ``attached_to`` from an ``instrument:`` are containment (X -> its container).
  Other sources of those edge types are no dependency at all.
* "Anything whose container is down": *any* of its valid containers being down is
  enough (normally there is one). Same for degraded.
* Down and degraded are closed under the rules by iterating to a fixed point; down
  wins over degraded.
* ``already_in_fault`` is read literally: every component in fault at ``at`` (the
  sources of ``had_fault`` edges valid at ``at``) in the whole graph, not only those
  related to the failed component; it includes the failed component when that is
  already in fault (the answer then lists no items: nothing gets worse).
* ``path`` comes from the breadth-first walk over dependents valid at ``at``
  regardless of their state. ``dependency`` is why the item is impacted: along the
  path, the kind of the first hop that is not containment, or containment when all
  hops are; it is read off a networkx digraph of the dependencies (dependency ->
  dependent, the kind on the edge), hop by hop along the path. Should a node depend
  on its parent in two ways, the kind first in alphabetical order is taken. A
  failed component that is not in the graph has no dependents (empty items).
* ``limit``/``truncated`` are not modelled: all items are returned.

componentTimeline
* Edge bounds: ``valid_from`` -> ``LINKED``/``FAULT_OPENED``/``JOB_STARTED``,
  ``valid_to`` -> ``UNLINKED``/``FAULT_CLEARED``/``JOB_ENDED``; a missing bound
  (``None``) is no item. ``other`` is the edge's other end (the fault id for fault
  items), ``edge_type`` the edge type (``had_fault`` for fault items).
* LINKED/UNLINKED edges: ``cooled_by``, ``powered_by``, ``in_site``, ``in_rack``,
  ``in_server``, ``attached_to`` out of or into the component. JOB_* items: ``ran_on``
  edges into the component (only servers have them).
* JOB_AFFECTED: the rows of ``affected_jobs(g, component)`` over *all* time (not cut
  to the window, so an overlap that started before the window does not show up at
  the window start), one item per distinct ``(job, overlap start)`` (several
  servers or faults with the same start give one item), ``other`` = job id,
  ``edge_type`` = ``"ran_on"``; rows with an unbounded overlap start are no item.
* "In the window" is half-open: ``from_us <= time < to_us`` (``None`` unbounded).
  Identical items are listed once.

path
* No time filter: every edge of the given types counts, whatever its interval.
* Ties "by smallest ids at each hop": among the shortest paths, the one whose node
  sequence is lexicographically smallest from the start (greedy from ``from_id``).
* ``exhausted`` is True when no path of at most ``max_depth`` hops exists and the
  breadth-first search was cut by the bound, i.e. some unvisited node is adjacent
  to the nodes at distance ``max_depth``; False when the search ran out of nodes.
* ``from_id == to_id`` gives ``[from_id]``; an unknown ``from_id`` gives no path,
  not exhausted. ``max_depth`` outside ``0..12`` is a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from fleetgraph.bench.reference.graph import VALID_FROM, VALID_TO, type_of
from fleetgraph.bench.reference.queries import affected_jobs

COOLING, POWER, NETWORK, CONTAINMENT = "cooling", "power", "network", "containment"
RACK_NEEDS = (COOLING, POWER, NETWORK)
DOWN, DEGRADED = "DOWN", "DEGRADED"

# edge type -> (source types, kind); the dependent is the source except for network
_CONTAINMENT_SOURCES: dict[str, frozenset[str]] = {
    "in_rack": frozenset({"server"}),
    "in_server": frozenset({"gpu"}),
    "in_site": frozenset({"rack", "cdu", "power_shelf", "switch"}),
    "attached_to": frozenset({"instrument"}),
}
TIMELINE_LINK_TYPES = frozenset(
    {"cooled_by", "powered_by", "in_site", "in_rack", "in_server", "attached_to"}
)
MAX_PATH_DEPTH = 12


def valid_at(data: dict[str, Any], t: int) -> bool:
    """The edge's (or node's) interval contains ``t``; no interval: always."""
    start, end = data.get(VALID_FROM), data.get(VALID_TO)
    return (start is None or start <= t) and (end is None or t < end)


def in_fault_at(g: nx.MultiDiGraph, t: int) -> set[str]:
    """Components with a ``had_fault`` edge valid at ``t``."""
    return {
        src
        for src, _, key, data in g.edges(keys=True, data=True)
        if key == "had_fault" and valid_at(data, t)
    }


# --- dependencies and state ------------------------------------------------------


@dataclass
class Dependencies:
    """Who depends on whom at one time."""

    # dependent -> kind -> dependencies
    needs: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # dependency -> set of (dependent, kind)
    dependents: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def add(self, dependent: str, dependency: str, kind: str) -> None:
        self.needs.setdefault(dependent, {}).setdefault(kind, set()).add(dependency)
        self.dependents.setdefault(dependency, set()).add((dependent, kind))

    def of(self, node: str, kind: str) -> set[str]:
        return self.needs.get(node, {}).get(kind, set())


def dependencies_at(g: nx.MultiDiGraph, t: int) -> Dependencies:
    deps = Dependencies()
    for src, dst, key, data in g.edges(keys=True, data=True):
        if not valid_at(data, t):
            continue
        src_type = type_of(src)
        if key == "cooled_by" and src_type == "rack":
            deps.add(src, dst, COOLING)
        elif key == "powered_by" and src_type == "rack":
            deps.add(src, dst, POWER)
        elif key == "in_rack" and src_type == "switch":
            deps.add(dst, src, NETWORK)
        elif key in _CONTAINMENT_SOURCES and src_type in _CONTAINMENT_SOURCES[key]:
            deps.add(src, dst, CONTAINMENT)
    return deps


@dataclass
class FleetState:
    down: set[str]
    degraded: set[str]

    def healthy(self, node: str) -> bool:
        return node not in self.down and node not in self.degraded


def compute_state(deps: Dependencies, initially_down: Iterable[str]) -> FleetState:
    """Down and degraded components given the components down by themselves."""
    down = set(initially_down)
    changed = True
    while changed:
        changed = False
        for node, needs in deps.needs.items():
            if node in down:
                continue
            rack_lost = type_of(node) == "rack" and any(
                needs.get(kind) and needs[kind] <= down for kind in RACK_NEEDS
            )
            if rack_lost or needs.get(CONTAINMENT, set()) & down:
                down.add(node)
                changed = True
    degraded = {
        node
        for node, needs in deps.needs.items()
        if node not in down
        and type_of(node) == "rack"
        and any(needs.get(kind, set()) & down for kind in RACK_NEEDS)
    }
    changed = True
    while changed:
        changed = False
        for node, needs in deps.needs.items():
            if node in down or node in degraded:
                continue
            if needs.get(CONTAINMENT, set()) & degraded:
                degraded.add(node)
                changed = True
    return FleetState(down, degraded)


def fleet_state(g: nx.MultiDiGraph, at_us: int) -> FleetState:
    """The state at ``at_us`` without any extra failure (used by placement)."""
    return compute_state(dependencies_at(g, at_us), in_fault_at(g, at_us))


# --- blastRadius -------------------------------------------------------------------


def _walk_dependents(deps: Dependencies, start: str) -> dict[str, str | None]:
    parent: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in sorted(frontier):
            for dependent, _ in sorted(deps.dependents.get(node, set())):
                if dependent not in parent:
                    parent[dependent] = node
                    following.append(dependent)
        frontier = following
    return parent


def dependency_digraph(deps: Dependencies) -> nx.DiGraph:
    """Dependency -> dependent, with the kind (the first in alphabetical order when a
    node depends on another in two ways)."""
    d = nx.DiGraph()
    for dependency, pairs in deps.dependents.items():
        for dependent, kind in sorted(pairs, reverse=True):
            d.add_edge(dependency, dependent, kind=kind)
    return d


def _cause(d: nx.DiGraph, path: list[str]) -> str | None:
    """The first hop of ``path`` that is not containment, else containment."""
    kinds = [d.edges[a, b]["kind"] for a, b in nx.utils.pairwise(path)]
    if not kinds:
        return None
    return next((k for k in kinds if k != CONTAINMENT), CONTAINMENT)


def _sites_of(deps: Dependencies, node: str) -> set[str]:
    """The sites holding ``node`` through containment (transitively)."""
    sites: set[str] = set()
    seen = {node}
    frontier = [node]
    while frontier:
        current = frontier.pop()
        if type_of(current) == "site":
            sites.add(current)
        for parent in deps.of(current, CONTAINMENT):
            if parent not in seen:
                seen.add(parent)
                frontier.append(parent)
    return sites


def _scope_sites(deps: Dependencies, component_id: str) -> set[str]:
    """The failed component's sites; for a switch with no container, those of the
    racks that depend on it."""
    sites = _sites_of(deps, component_id)
    if not sites:
        for dependent, _ in deps.dependents.get(component_id, set()):
            sites |= _sites_of(deps, dependent)
    return sites


def _in_scope(deps: Dependencies, node: str, sites: set[str]) -> bool:
    return bool(_scope_sites(deps, node) & sites)


def blast_radius(g: nx.MultiDiGraph, component_id: str, at_us: int) -> dict[str, Any]:
    """What a failure of ``component_id`` at ``at_us`` takes down or degrades.

    The baseline leaves the failed component up even when it is itself in fault
    at ``at_us`` (so asking during a recorded failure gives that failure's
    radius); ``already_in_fault`` lists the other components in fault at
    ``at_us`` within the failed component's site(s) (docs/queries.md).
    """
    deps = dependencies_at(g, at_us)
    faulted = in_fault_at(g, at_us) - {component_id}
    before = compute_state(deps, faulted)
    after = compute_state(deps, faulted | {component_id})
    sites = _scope_sites(deps, component_id)
    parent = _walk_dependents(deps, component_id)
    digraph = dependency_digraph(deps)

    impacts: dict[str, str] = {}
    for node in after.down - before.down:
        impacts[node] = DOWN
    for node in after.degraded:
        if before.healthy(node):
            impacts[node] = DEGRADED
    impacts.pop(component_id, None)

    items: list[dict[str, Any]] = []
    for node, impact in impacts.items():
        path: list[str] | None = None
        if node in parent:
            path = [node]
            step = parent[node]
            while step is not None:
                path.append(step)
                step = parent[step]
            path.reverse()
        items.append(
            {
                "id": node,
                "impact": impact,
                "dependency": _cause(digraph, path) if path else None,
                "path": path,
            }
        )
    items.sort(key=lambda item: (item["impact"] != DOWN, item["id"]))

    servers = {node: impact for node, impact in impacts.items() if type_of(node) == "server"}
    jobs = sorted(
        (
            {"job": job, "server": server, "impact": servers[server]}
            for job, server, key, data in g.edges(keys=True, data=True)
            if key == "ran_on" and server in servers and valid_at(data, at_us)
        ),
        key=lambda row: (row["job"], row["server"]),
    )
    already = sorted(node for node in faulted if _in_scope(deps, node, sites))
    return {"items": items, "already_in_fault": already, "jobs": jobs}


# --- componentTimeline ---------------------------------------------------------------


def _in_window(t: int | None, from_us: int | None, to_us: int | None) -> bool:
    return t is not None and (from_us is None or from_us <= t) and (to_us is None or t < to_us)


def component_timeline(
    g: nx.MultiDiGraph,
    component_id: str,
    from_us: int | None = None,
    to_us: int | None = None,
) -> list[dict[str, Any]]:
    """Everything that happened to ``component_id`` in ``[from_us, to_us)``, oldest first."""
    if component_id not in g:
        return []
    found: set[tuple[int, str, str, str]] = set()

    def bounds(data: dict[str, Any], opened: str, closed: str, other: str, etype: str) -> None:
        for t, kind in ((data.get(VALID_FROM), opened), (data.get(VALID_TO), closed)):
            if t is not None and _in_window(t, from_us, to_us):
                found.add((t, kind, other, etype))

    for _, dst, key, data in g.out_edges(component_id, keys=True, data=True):
        if key == "had_fault":
            bounds(data, "FAULT_OPENED", "FAULT_CLEARED", dst, key)
        elif key in TIMELINE_LINK_TYPES:
            bounds(data, "LINKED", "UNLINKED", dst, key)
    for src, _, key, data in g.in_edges(component_id, keys=True, data=True):
        if key in TIMELINE_LINK_TYPES:
            bounds(data, "LINKED", "UNLINKED", src, key)
        elif key == "ran_on":
            bounds(data, "JOB_STARTED", "JOB_ENDED", src, key)
    for row in affected_jobs(g, component_id):
        start = row["overlap_from"]
        if start is not None and _in_window(start, from_us, to_us):
            found.add((start, "JOB_AFFECTED", row["job"], "ran_on"))
    return [
        {"time": t, "kind": kind, "other": other, "edge_type": etype}
        for t, kind, other, etype in sorted(found)
    ]


# --- path ------------------------------------------------------------------------------


def _neighbours(g: nx.MultiDiGraph, node: str, edge_types: frozenset[str]) -> set[str]:
    if node not in g:
        return set()
    found = {dst for _, dst, key in g.out_edges(node, keys=True) if key in edge_types}
    found |= {src for src, _, key in g.in_edges(node, keys=True) if key in edge_types}
    return found


def shortest_path(
    g: nx.MultiDiGraph,
    from_id: str,
    to_id: str,
    edge_types: Iterable[str],
    max_depth: int = 6,
) -> dict[str, Any]:
    """A shortest path over ``edge_types`` (both directions), smallest ids at each hop."""
    if not 0 <= max_depth <= MAX_PATH_DEPTH:
        raise ValueError(f"max_depth must be within 0..{MAX_PATH_DEPTH}")
    types = frozenset(edge_types)
    if from_id == to_id:
        return {"nodes": [from_id], "exhausted": False}
    if from_id not in g:
        return {"nodes": None, "exhausted": False}

    # breadth-first from the start, bounded
    dist: dict[str, int] = {from_id: 0}
    frontier = {from_id}
    depth = 0
    while frontier and to_id not in dist and depth < max_depth:
        following: set[str] = set()
        for node in frontier:
            for other in _neighbours(g, node, types):
                if other not in dist:
                    dist[other] = depth + 1
                    following.add(other)
        frontier = following
        depth += 1
    if to_id not in dist:
        cut_by_bound = any(
            other not in dist for node in frontier for other in _neighbours(g, node, types)
        )
        return {"nodes": None, "exhausted": cut_by_bound}

    # distances to the target over the nodes within reach, then greedy smallest ids
    length = dist[to_id]
    back: dict[str, int] = {to_id: 0}
    frontier = {to_id}
    for step in range(1, length + 1):
        following = set()
        for node in frontier:
            for other in _neighbours(g, node, types):
                if other not in back:
                    back[other] = step
                    following.add(other)
        frontier = following
    nodes = [from_id]
    current = from_id
    for remaining in range(length - 1, -1, -1):
        current = min(
            other for other in _neighbours(g, current, types) if back.get(other) == remaining
        )
        nodes.append(current)
    return {"nodes": nodes, "exhausted": False}
