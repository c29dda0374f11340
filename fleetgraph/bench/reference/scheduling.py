"""Reference answer of the scheduler's query: placement.

Written from ``docs/queries.md`` alone, on the graph of
:func:`fleetgraph.bench.reference.graph.build_graph`; it imports nothing from the product. The
fleet state (down, degraded, healthy racks) is the one of blastRadius without any
extra failure (:func:`fleetgraph.bench.reference.incidents.fleet_state`); the model part reuses
:func:`fleetgraph.bench.reference.queries.model_hotness`.

Interpretations where the docs leave room
-----------------------------------------
* Sites: every ``site:`` node of the graph (also one known only as a replica's
  target: it has no GPUs, so it is excluded for capacity).
* Free GPUs: ``gpu:`` sources of ``in_server`` edges valid at ``at`` into ``server:``
  sources of ``in_rack`` edges valid at ``at`` into ``rack:`` sources of ``in_site``
  edges valid at ``at`` into the site; the rack healthy, the server and the GPU not
  down, and no ``allocated`` edge valid at ``at`` into the GPU. Counted as distinct
  GPU ids.
* ``health`` = healthy racks / racks, over the ``rack:`` sources of ``in_site`` edges
  valid at ``at`` (0 for a site without racks; such a site is always excluded).
* ``allowed_jurisdictions``: ``None`` = not given; any collection, even empty, is
  given (an empty one excludes every site). A site without a ``jurisdiction`` is not
  in any allowed list.
* ``model``: ``model_hotness(g, model_id, at - 24 h, at)``; a site's score divided by
  the best score of that answer over *all* sites (excluded ones included); 0 when
  no model is given, the site is not listed or the best score is 0.
* ``data``: the share of the *distinct* ``dataset_ids`` with a ``cached_at`` edge
  valid at ``at`` from the dataset to the site; 0 when no dataset is asked for.
* ``energy``: mean of ``clamp(power_headroom_kw / 1000, 0, 1)``, ``battery_soc`` and
  ``clamp(solar_kw / 500, 0, 1)``; an unknown (or non-numeric) value counts as 0;
  ``battery_soc`` is taken as is (not clamped). String properties (installed
  attributes) are read as numbers.
* ``region`` in ``parts`` is the indicator 1.0 / 0.0 (site region ==
  ``preferred_region``), unweighted like the other parts; the score adds
  ``0.05 * region``. So
  ``score = 0.35 gpu + 0.15 health + 0.25 model + 0.15 data + 0.10 energy + 0.05 region``.
* ``gpus`` must be at least 1 (``ValueError`` otherwise).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import networkx as nx

from fleetgraph.bench.reference.graph import type_of
from fleetgraph.bench.reference.incidents import FleetState, fleet_state, valid_at
from fleetgraph.bench.reference.queries import model_hotness

DAY_US = 24 * 3600 * 1_000_000
WEIGHTS: dict[str, float] = {
    "gpu": 0.35,
    "health": 0.15,
    "model": 0.25,
    "data": 0.15,
    "energy": 0.10,
    "region": 0.05,
}


def _sources_valid(g: nx.MultiDiGraph, node: str, etype: str, src_type: str, at: int) -> set[str]:
    if node not in g:
        return set()
    return {
        src
        for src, _, key, data in g.in_edges(node, keys=True, data=True)
        if key == etype and type_of(src) == src_type and valid_at(data, at)
    }


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def site_racks(g: nx.MultiDiGraph, site: str, at: int) -> set[str]:
    return _sources_valid(g, site, "in_site", "rack", at)


def free_gpus(g: nx.MultiDiGraph, site: str, at: int, state: FleetState) -> set[str]:
    free: set[str] = set()
    for rack in site_racks(g, site, at):
        if not state.healthy(rack):
            continue
        for server in _sources_valid(g, rack, "in_rack", "server", at):
            if server in state.down:
                continue
            for gpu in _sources_valid(g, server, "in_server", "gpu", at):
                if gpu in state.down:
                    continue
                allocated = any(
                    key == "allocated" and valid_at(data, at)
                    for _, _, key, data in g.in_edges(gpu, keys=True, data=True)
                )
                if not allocated:
                    free.add(gpu)
    return free


def energy_part(props: dict[str, Any]) -> float:
    headroom = _number(props.get("power_headroom_kw"))
    soc = _number(props.get("battery_soc"))
    solar = _number(props.get("solar_kw"))
    return (
        (_clamp01(headroom / 1000) if headroom is not None else 0.0)
        + (soc if soc is not None else 0.0)
        + (_clamp01(solar / 500) if solar is not None else 0.0)
    ) / 3


def placement(
    g: nx.MultiDiGraph,
    gpus: int,
    at_us: int,
    model_id: str | None = None,
    dataset_ids: Iterable[str] = (),
    allowed_jurisdictions: Collection[str] | None = None,
    preferred_region: str | None = None,
) -> dict[str, Any]:
    """Sites ranked for a job of ``gpus`` GPUs at ``at_us``, with the excluded ones."""
    if gpus < 1:
        raise ValueError("gpus must be at least 1")
    state = fleet_state(g, at_us)
    datasets = sorted(set(dataset_ids))
    hot: dict[str, float] = {}
    if model_id is not None:
        hot = {r["site"]: r["score"] for r in model_hotness(g, model_id, at_us - DAY_US, at_us)}
    best_hot = max(hot.values(), default=0.0)

    candidates: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for site in sorted(node for node in g if type_of(node) == "site"):
        props = g.nodes[site]
        free = len(free_gpus(g, site, at_us, state))
        reasons: list[str] = []
        if free < gpus:
            reasons.append("capacity")
        if allowed_jurisdictions is not None and props.get("jurisdiction") not in set(
            allowed_jurisdictions
        ):
            reasons.append("jurisdiction")
        if reasons:
            excluded.append({"site": site, "reasons": sorted(reasons)})
            continue
        racks = site_racks(g, site, at_us)
        held = sum(
            1
            for ds in datasets
            if ds in g
            and any(
                key == "cached_at" and dst == site and valid_at(data, at_us)
                for _, dst, key, data in g.out_edges(ds, keys=True, data=True)
            )
        )
        parts = {
            "gpu": min(1.0, free / (2 * gpus)),
            "health": sum(1 for r in racks if state.healthy(r)) / len(racks) if racks else 0.0,
            "model": hot.get(site, 0.0) / best_hot if best_hot > 0 else 0.0,
            "data": held / len(datasets) if datasets else 0.0,
            "energy": energy_part(props),
            "region": 1.0
            if preferred_region is not None and props.get("region") == preferred_region
            else 0.0,
        }
        score = sum(WEIGHTS[name] * value for name, value in parts.items())
        candidates.append({"site": site, "score": score, "free_gpus": free, "parts": parts})
    candidates.sort(key=lambda c: (-c["score"], c["site"]))
    return {"candidates": candidates, "excluded": excluded}
