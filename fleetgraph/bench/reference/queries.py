"""Reference answers of the two headline queries, from ``docs/queries.md`` alone.

Works on the graph of :func:`fleetgraph.bench.reference.graph.build_graph`. Times are integer
microseconds; ``None`` is an unbounded end (-inf for a start, +inf for an end).

Intervals are half-open ``[from, to)``; two intervals overlap when each starts
strictly before the other ends (so ``[1, 5)`` and ``[5, 9)`` do not overlap). Read
literally, this also makes an empty interval ``[t, t)`` overlap any interval that
strictly contains ``t``; the cut of such an overlap is ``[t, t)`` again.

Interpretations where the docs leave room
-----------------------------------------
affectedJobs
* The fault interval is the ``had_fault`` edge's ``[valid_from, valid_to)`` (the
  fault node carries the same interval).
* Component types: ``cdu:`` -> racks with ``cooled_by`` to it; ``power_shelf:`` ->
  racks with ``powered_by`` to it; ``site:`` -> ``rack:`` ids with ``in_site`` to it
  (CDUs, shelves, switches in the site are not racks); ``rack:`` -> itself, no cut;
  ``server:`` -> itself, no rack and no ``in_rack`` cut; ``switch:`` -> the ``rack:``
  targets of its ``in_rack`` edges (the racks whose network it is, as blastRadius
  reads them). ``gpu:`` -> no racks: the jobs with an ``allocated`` edge to it
  whose interval overlaps the fault window (cut by it), each on the GPU's
  ``in_server`` target chosen like ``site`` below (no row when it has none), with
  that server's rack chosen the same way. ``instrument:`` has nothing: empty.
  Other types (job, model, ...) are no component: the product refuses them, the
  oracle answers empty.
* Only ``server:`` sources of ``in_rack`` (not switches) and ``job:`` sources of
  ``ran_on`` count.
* ``rack`` in a result: the dependent rack of the path. For a server component it
  is the server's ``in_rack`` target chosen like ``site`` below (``None`` if the
  server has no ``in_rack`` edge).
* ``site``: for a site component, the site itself. Otherwise the rack's
  ``in_site`` target whose interval overlaps the result's overlap window; if
  several, the one with the latest ``valid_from`` (then lowest id); if none
  overlaps, the same choice among all the rack's ``in_site`` edges; ``None`` when
  the rack has no ``in_site`` edge.
* "One result per (job, fault, server)": should several racks lead to the same
  (job, fault, server) (a server moved between two dependent racks), the path with
  the earliest overlap start (``None`` first), then the earliest overlap end
  (``None`` last), then the lowest rack id is kept.

modelHotness
* ``from_us``/``to_us`` must be given (the oracle has no "now"); a ``None`` start
  means -inf. Age is measured from ``to_us``.
* ``last_access`` and ``hits`` are the replica edge's current (merged) values,
  even when written after the window end (the age is then clamped to 0).
* A replica without ``last_access`` and without ``valid_from`` has an infinite age
  (score 0); an unknown or missing ``tier`` has weight 0. Such replicas are still
  listed as evidence and their site still appears (with its summed score).
* A site's score is ``math.fsum`` of its replica scores; compare with a tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import networkx as nx

from fleetgraph.bench.reference.graph import VALID_FROM, VALID_TO, type_of

Interval = tuple[int | None, int | None]  # (start or None = -inf, end or None = +inf)

HALF_LIFE_US = 6 * 3600 * 1_000_000
TIER_WEIGHT: dict[int, float] = {0: 1.0, 1: 0.5, 2: 0.1}
RACK_EDGE_OF_COMPONENT: dict[str, str] = {
    "cdu": "cooled_by",
    "power_shelf": "powered_by",
    "site": "in_site",
}


# --- intervals -----------------------------------------------------------------


def _starts_before_end(start: int | None, end: int | None) -> bool:
    return start is None or end is None or start < end


def overlaps(a: Interval, b: Interval) -> bool:
    """Each starts before the other ends (half-open, None = unbounded)."""
    return _starts_before_end(a[0], b[1]) and _starts_before_end(b[0], a[1])


def cut(a: Interval, b: Interval) -> Interval | None:
    """The intersection of two overlapping intervals, None when they do not overlap."""
    if not overlaps(a, b):
        return None
    starts = [s for s in (a[0], b[0]) if s is not None]
    ends = [e for e in (a[1], b[1]) if e is not None]
    return (max(starts) if starts else None, min(ends) if ends else None)


def interval_of(data: dict[str, Any]) -> Interval:
    return (data.get(VALID_FROM), data.get(VALID_TO))


def _edges_in(g: nx.MultiDiGraph, node: str, etype: str) -> Iterable[tuple[str, dict[str, Any]]]:
    if node not in g:
        return []
    return [
        (src, data) for src, _, key, data in g.in_edges(node, keys=True, data=True) if key == etype
    ]


def _edges_out(g: nx.MultiDiGraph, node: str, etype: str) -> Iterable[tuple[str, dict[str, Any]]]:
    if node not in g:
        return []
    return [
        (dst, data) for _, dst, key, data in g.out_edges(node, keys=True, data=True) if key == etype
    ]


def _pick_target(g: nx.MultiDiGraph, node: str, etype: str, window: Interval) -> str | None:
    """The target of ``node``'s ``etype`` edge for ``window`` (see module docstring)."""
    edges = list(_edges_out(g, node, etype))
    if not edges:
        return None
    live = [(dst, data) for dst, data in edges if overlaps(interval_of(data), window)]
    pool = live or edges

    def key(item: tuple[str, dict[str, Any]]) -> tuple[bool, int, str]:
        dst, data = item
        start = data.get(VALID_FROM)
        # latest valid_from first (None = -inf last), then lowest id
        return (start is None, -(start or 0), dst)

    return min(pool, key=key)[0]


# --- affectedJobs ----------------------------------------------------------------


def _none_first(value: int | None) -> tuple[bool, int]:
    return (value is not None, value or 0)


def _none_last(value: int | None) -> tuple[bool, int]:
    return (value is None, value or 0)


def affected_jobs(
    g: nx.MultiDiGraph,
    component_id: str,
    from_us: int | None = None,
    to_us: int | None = None,
) -> list[dict[str, Any]]:
    """Jobs that ran on hardware depending on ``component_id`` while it was in fault."""
    query: Interval = (from_us, to_us)
    ctype = type_of(component_id)
    best: dict[tuple[str, str, str], dict[str, Any]] = {}

    for fault, fault_edge in _edges_out(g, component_id, "had_fault"):
        fault_window = cut(interval_of(fault_edge), query)
        if fault_window is None:
            continue

        # (server, rack or None, window left)
        if ctype == "gpu":
            for job, allocated in _edges_in(g, component_id, "allocated"):
                overlap = cut(interval_of(allocated), fault_window)
                if type_of(job) != "job" or overlap is None:
                    continue
                server = _pick_target(g, component_id, "in_server", overlap)
                if server is None:
                    continue
                rack = _pick_target(g, server, "in_rack", overlap)
                row = {
                    "job": job,
                    "fault": fault,
                    "server": server,
                    "rack": rack,
                    "site": _pick_target(g, rack, "in_site", overlap) if rack else None,
                    "overlap_from": overlap[0],
                    "overlap_to": overlap[1],
                }
                key = (job, fault, server)
                if key not in best or _row_preference(row) < _row_preference(best[key]):
                    best[key] = row
            continue

        servers: list[tuple[str, str | None, Interval]] = []
        if ctype == "server":
            servers.append((component_id, None, fault_window))
        else:
            racks: list[tuple[str, Interval]] = []
            if ctype == "rack":
                racks.append((component_id, fault_window))
            elif ctype == "switch":
                for rack, dep in _edges_out(g, component_id, "in_rack"):
                    window = cut(interval_of(dep), fault_window)
                    if type_of(rack) == "rack" and window is not None:
                        racks.append((rack, window))
            elif ctype in RACK_EDGE_OF_COMPONENT:
                for rack, dep in _edges_in(g, component_id, RACK_EDGE_OF_COMPONENT[ctype]):
                    if type_of(rack) != "rack":
                        continue
                    window = cut(interval_of(dep), fault_window)
                    if window is not None:
                        racks.append((rack, window))
            for rack, rack_window in racks:
                for server, contained in _edges_in(g, rack, "in_rack"):
                    if type_of(server) != "server":
                        continue
                    window = cut(interval_of(contained), rack_window)
                    if window is not None:
                        servers.append((server, rack, window))

        for server, path_rack, server_window in servers:
            for job, ran in _edges_in(g, server, "ran_on"):
                if type_of(job) != "job":
                    continue
                overlap = cut(interval_of(ran), server_window)
                if overlap is None:
                    continue
                row_rack = (
                    path_rack
                    if path_rack is not None
                    else _pick_target(g, server, "in_rack", overlap)
                )
                if ctype == "site":
                    site: str | None = component_id
                elif row_rack is not None:
                    site = _pick_target(g, row_rack, "in_site", overlap)
                else:
                    site = None
                row = {
                    "job": job,
                    "fault": fault,
                    "server": server,
                    "rack": row_rack,
                    "site": site,
                    "overlap_from": overlap[0],
                    "overlap_to": overlap[1],
                }
                key = (job, fault, server)
                if key not in best or _row_preference(row) < _row_preference(best[key]):
                    best[key] = row

    return sorted(
        best.values(),
        key=lambda r: (_none_first(r["overlap_from"]), r["job"], r["fault"], r["server"]),
    )


def _row_preference(row: dict[str, Any]) -> tuple[Any, ...]:
    return (_none_first(row["overlap_from"]), _none_last(row["overlap_to"]), row["rack"] or "")


# --- modelHotness ------------------------------------------------------------------


def replica_score(tier: int | None, last_access: int | None, hits: int | None, end: int) -> float:
    """``tier_weight * 0.5 ** (age / half_life) * (1 + log2(1 + hits))``."""
    weight = TIER_WEIGHT.get(tier, 0.0) if tier is not None else 0.0
    if last_access is None:
        return 0.0
    age = max(0, end - last_access)
    decay: float = 0.5 ** (age / HALF_LIFE_US)
    return weight * decay * (1 + math.log2(1 + (hits or 0)))


def model_hotness(
    g: nx.MultiDiGraph, model_id: str, from_us: int | None, to_us: int
) -> list[dict[str, Any]]:
    """Sites ranked by how hot ``model_id``'s artifacts are there over ``[from_us, to_us)``."""
    if to_us is None:
        raise ValueError("the oracle needs an explicit window end (it has no 'now')")
    window: Interval = (from_us, to_us)
    by_site: dict[str, list[dict[str, Any]]] = {}
    for artifact, _ in _edges_in(g, model_id, "artifact_of"):
        for site, replica in _edges_out(g, artifact, "cached_at"):
            if not overlaps(interval_of(replica), window):
                continue
            tier = replica.get("tier")
            last_access = replica.get("last_access")
            hits = replica.get("hits")
            reference = last_access if last_access is not None else replica.get(VALID_FROM)
            by_site.setdefault(site, []).append(
                {
                    "artifact": artifact,
                    "tier": tier,
                    "last_access": last_access,
                    "hits": hits,
                    "score": replica_score(tier, reference, hits, to_us),
                }
            )
    ranked: list[dict[str, Any]] = []
    for site, replicas in by_site.items():
        replicas.sort(key=lambda r: r["artifact"])
        ranked.append(
            {
                "site": site,
                "score": math.fsum(r["score"] for r in replicas),
                "replicas": replicas,
            }
        )
    ranked.sort(key=lambda s: (-s["score"], s["site"]))
    return ranked
