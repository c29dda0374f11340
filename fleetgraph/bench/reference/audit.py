"""Reference answers of the auditors' queries: lineage and dataResidency.

Written from ``docs/queries.md`` alone, on the graph of
:func:`fleetgraph.bench.reference.graph.build_graph`; it imports nothing from the product.

Interpretations where the docs leave room
-----------------------------------------
A job's site (the doc's ``site_id`` of a job)
* The events carry no site for a job (docs/events.md), so the oracle derives it:
  a job node's ``site_id`` property when it has one; otherwise, for each of its
  ``ran_on`` edges that has a ``valid_from`` t (the start), the ``site:`` targets of
  the ``in_site`` edges valid at t of the ``rack:`` targets of the server's
  ``in_rack`` edges valid at t. A job placed across sites has several sites (each
  a ``ran_at`` step / a processing place); a job never started has none.
* A site's jurisdiction is its ``jurisdiction`` property (``None`` when unknown:
  no ``in_jurisdiction`` step, and never within ``allowed``).

lineage
* Steps are typed by the node they leave: UP from an ``artifact:``, ``dataset:`` or
  ``model:`` -> its ``derived_from`` targets, (artifacts only) its ``artifact_of``
  models, the ``job:`` sources of ``produced`` into it; UP from a ``job:`` -> ``read``,
  ``used_model``, ``launched_by``, ``owned_by`` targets and ``ran_at`` its site(s);
  UP from a ``site:`` -> ``in_jurisdiction`` ``jurisdiction:<code>``. DOWN from an
  artifact/dataset/model -> the ``job:`` sources of ``read`` and ``used_model`` into
  it, the sources of ``derived_from`` into it (whatever their type: "the artifacts"
  read as "the data"), (models only) the sources of ``artifact_of``; DOWN from a
  ``job:`` -> its ``produced`` targets. Other nodes have no steps.
* No time filter here; ``at`` is the caller's graph (see the end of this text).
* Distances are breadth-first (shortest); a node is kept when its distance is at
  most ``depth``. The edges walked are every step taken out of a node at distance
  < ``depth``, also those leading to an already reached node. Edges are reported in
  the graph's direction ``(type, source, target)``; the pseudo steps as
  ``("ran_at", job, site)`` and ``("in_jurisdiction", site, "jurisdiction:<code>")``.
* The start node is listed at distance 0 even when it is not in the graph.
  ``depth`` outside ``0..10`` is a ``ValueError``.

dataResidency
* The items: the dataset and every node reached from it over the DOWN steps
  ``read`` (data -> the jobs reading it), ``produced`` (job -> its outputs) and
  ``derived_from`` (data -> what was derived from it), unbounded, minus the jobs.
  The dataset is an item even when it is not in the graph.
* Processing places of an item: the sites of the jobs with a ``read`` edge into it
  (not of the jobs that produced it, read literally); holding places: the targets
  of its ``cached_at`` edges, whatever their interval. One place per (item, site)
  with ``jobs`` (the reading jobs at that site, sorted) and ``held``.
* ``violations``: the places whose site jurisdiction is not in ``allowed``.
* With a window ``[from, to)``: the caller passes the graph of the events before
  ``to`` (``graph.graph_before``); a reading job counts only when one of its
  ``ran_on`` intervals overlaps the window, a replica only when its ``cached_at``
  interval does.

As of a time: for lineage ``at`` the caller passes ``graph.graph_before(events,
at + 1)``, the graph of the events up to ``at`` (history: ended intervals count);
for path ``at``, ``graph.graph_as_of(events, at)``, which keeps only the edges
valid at ``at``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import networkx as nx

from fleetgraph.bench.reference.graph import VALID_FROM, VALID_TO, type_of
from fleetgraph.bench.reference.incidents import valid_at

DATA_TYPES = frozenset({"artifact", "dataset", "model"})
MAX_LINEAGE_DEPTH = 10

Step = tuple[str, str, str, str]  # (edge type, source, target, node reached)


def _out(g: nx.MultiDiGraph, node: str, etype: str) -> list[str]:
    if node not in g:
        return []
    return sorted({dst for _, dst, key in g.out_edges(node, keys=True) if key == etype})


def _in(g: nx.MultiDiGraph, node: str, etype: str) -> list[str]:
    if node not in g:
        return []
    return sorted({src for src, _, key in g.in_edges(node, keys=True) if key == etype})


def job_sites(g: nx.MultiDiGraph, job: str) -> list[str]:
    """The site(s) a job ran at (see the module docstring)."""
    if job not in g:
        return []
    explicit = g.nodes[job].get("site_id")
    if explicit:
        return [str(explicit)]
    sites: set[str] = set()
    for _, server, key, data in g.out_edges(job, keys=True, data=True):
        start = data.get(VALID_FROM)
        if key != "ran_on" or start is None:
            continue
        for _, rack, rkey, rdata in g.out_edges(server, keys=True, data=True):
            if rkey != "in_rack" or type_of(rack) != "rack" or not valid_at(rdata, start):
                continue
            for _, site, skey, sdata in g.out_edges(rack, keys=True, data=True):
                if skey == "in_site" and type_of(site) == "site" and valid_at(sdata, start):
                    sites.add(site)
    return sorted(sites)


def jurisdiction_of(g: nx.MultiDiGraph, site: str) -> str | None:
    if site not in g:
        return None
    value = g.nodes[site].get("jurisdiction")
    return str(value) if value else None


def _steps(g: nx.MultiDiGraph, node: str, direction: str) -> list[Step]:
    ntype = type_of(node)
    steps: list[Step] = []
    if direction == "UP":
        if ntype in DATA_TYPES:
            steps += [("derived_from", node, t, t) for t in _out(g, node, "derived_from")]
            if ntype == "artifact":
                steps += [("artifact_of", node, t, t) for t in _out(g, node, "artifact_of")]
            producers = [j for j in _in(g, node, "produced") if type_of(j) == "job"]
            steps += [("produced", j, node, j) for j in producers]
        elif ntype == "job":
            for etype in ("read", "used_model", "launched_by", "owned_by"):
                steps += [(etype, node, t, t) for t in _out(g, node, etype)]
            steps += [("ran_at", node, s, s) for s in job_sites(g, node)]
        elif ntype == "site":
            code = jurisdiction_of(g, node)
            if code is not None:
                pseudo = "jurisdiction:" + code
                steps.append(("in_jurisdiction", node, pseudo, pseudo))
    elif direction == "DOWN":
        if ntype in DATA_TYPES:
            for etype in ("read", "used_model"):
                steps += [(etype, j, node, j) for j in _in(g, node, etype) if type_of(j) == "job"]
            steps += [("derived_from", s, node, s) for s in _in(g, node, "derived_from")]
            if ntype == "model":
                steps += [("artifact_of", a, node, a) for a in _in(g, node, "artifact_of")]
        elif ntype == "job":
            steps += [("produced", node, t, t) for t in _out(g, node, "produced")]
    else:
        raise ValueError("direction must be UP or DOWN")
    return steps


def lineage(g: nx.MultiDiGraph, node_id: str, direction: str, depth: int = 4) -> dict[str, Any]:
    """Where ``node_id`` came from (UP) or what flowed from it (DOWN), ``depth`` edges."""
    if direction not in ("UP", "DOWN"):
        raise ValueError("direction must be UP or DOWN")
    if not 0 <= depth <= MAX_LINEAGE_DEPTH:
        raise ValueError(f"depth must be within 0..{MAX_LINEAGE_DEPTH}")
    dist: dict[str, int] = {node_id: 0}
    edges: set[tuple[str, str, str]] = set()
    frontier = [node_id]
    for distance in range(1, depth + 1):
        following: list[str] = []
        for node in sorted(frontier):
            for etype, src, dst, reached in _steps(g, node, direction):
                edges.add((etype, src, dst))
                if reached not in dist:
                    dist[reached] = distance
                    following.append(reached)
        frontier = following
    return {
        "nodes": sorted(dist.items(), key=lambda item: (item[1], item[0])),
        "edges": sorted(edges),
    }


def _downstream_data(g: nx.MultiDiGraph, dataset_id: str) -> list[str]:
    seen = {dataset_id}
    stack = [dataset_id]
    while stack:
        node = stack.pop()
        if type_of(node) == "job":
            reached = _out(g, node, "produced")
        else:
            reached = [j for j in _in(g, node, "read") if type_of(j) == "job"]
            reached += _in(g, node, "derived_from")
        for other in reached:
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return sorted(node for node in seen if type_of(node) != "job")


Window = tuple[int | None, int | None]


def _overlaps(data: dict[str, Any], window: Window | None) -> bool:
    if window is None:
        return True
    start, end = data.get(VALID_FROM), data.get(VALID_TO)
    lo, hi = window
    return (start is None or hi is None or start < hi) and (lo is None or end is None or lo < end)


def _ran_within(g: nx.MultiDiGraph, job: str, window: Window | None) -> bool:
    return window is None or any(
        key == "ran_on" and _overlaps(data, window)
        for _, _, key, data in g.out_edges(job, keys=True, data=True))


def data_residency(g: nx.MultiDiGraph, dataset_id: str, allowed: Collection[str],
                   window: Window | None = None) -> dict[str, Any]:
    """Where the dataset and everything derived from it was processed and held."""
    allowed_set = set(allowed)
    places: list[dict[str, Any]] = []
    for item in _downstream_data(g, dataset_id):
        jobs_at: dict[str, set[str]] = {}
        for reader in _in(g, item, "read"):
            if type_of(reader) != "job" or not _ran_within(g, reader, window):
                continue
            for site in job_sites(g, reader):
                jobs_at.setdefault(site, set()).add(reader)
        held_at = {dst for _, dst, key, data in g.out_edges(item, keys=True, data=True)
                   if key == "cached_at" and _overlaps(data, window)} if item in g else set()
        for site in sorted(set(jobs_at) | held_at):
            places.append(
                {
                    "item": item,
                    "site": site,
                    "jurisdiction": jurisdiction_of(g, site),
                    "jobs": sorted(jobs_at.get(site, set())),
                    "held": site in held_at,
                }
            )
    places.sort(key=lambda p: (p["item"], p["site"]))
    violations = [p for p in places if p["jurisdiction"] not in allowed_set]
    return {"places": places, "violations": violations}
