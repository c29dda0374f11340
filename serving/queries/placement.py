"""placement: sites ranked for a job of G GPUs, joining topology with live state.

See docs/queries.md ("placement") and, for what makes a rack healthy, "blastRadius"
(the fleet state at ``at`` without any extra failure: ``blast_radius.fleet_state``,
shared with blastRadius). The whole fleet is read in a fixed number of batched
store calls, whatever its size (1000 sites, ~150k GPUs):

1. ``scan_nodes("site")``, in pages of 5000 (one call for the whole fleet);
2-8. ``fleet_state`` of every site at ``at``: ``in_site`` IN and ``attached_to`` IN of
   the sites, ``in_rack`` IN, ``cooled_by`` OUT and ``powered_by`` OUT of the racks,
   ``in_server`` IN of the servers, ``had_fault`` OUT of everything met;
9. ``allocated`` IN of the GPUs that could be free, valid at ``at``;
10-12. modelHotness over the 24 h before ``at`` (only with a model);
13. ``cached_at`` OUT of the datasets, valid at ``at`` (only with datasets).

Readings of the text, where it leaves room:

* Fleet state (blastRadius' definition, as ``fleet_state`` reads it): *down* are
  the components in fault at ``at`` (a ``had_fault`` edge containing ``at``), then a
  rack whose CDUs (if it has any), or power shelves (if any), or switches
  (``switch in_rack`` it, if any) are all down, and anything with a down container
  (a rack, CDU, power shelf or switch whose site is down, a server whose rack is,
  a GPU whose server is; any one of several). *Degraded*, not down: a rack with
  at least one down CDU, power shelf or switch, and what it contains. A *healthy*
  rack is neither. The ``status`` property plays no part (only faults do).
* Free GPUs of a site: distinct ``gpu:`` ids with an ``in_server`` edge to a
  ``server:`` with an ``in_rack`` edge to a ``rack:`` with an ``in_site`` edge to
  the site (all valid at ``at``), the rack healthy, the server and the GPU not
  down, and no ``allocated`` edge valid at ``at`` into the GPU.
* health = healthy racks / racks of the site (``rack:`` ids ``in_site`` it at
  ``at``); 0 for a site without racks.
* model: modelHotness over ``[at - 24 h, at)``, the site's score divided by the
  best score of that answer (any site, excluded or not); 0 without a model, when
  the model is not in the graph, or when no score is above 0.
* data: distinct ``datasetIds`` (dataset or artifact ids) with a ``cached_at`` edge
  valid at ``at`` to the site, divided by the number of distinct ids; 0 without any.
* energy: mean of clamp(power_headroom_kw / 1000, 0, 1), battery_soc and
  clamp(solar_kw / 500, 0, 1), each missing value counting 0 (battery_soc is not
  clamped).
* region: 1 when the site's ``region`` equals ``preferredRegion``, else 0; it adds
  0.05 to the score.
* The parts are the unweighted values above; score = 0.35 gpu + 0.15 health +
  0.25 model + 0.15 data + 0.10 energy + 0.05 region.
* Exclusion: ``jurisdiction`` when ``allowedJurisdictions`` is given (an empty list
  too) and the site's ``jurisdiction`` (missing: none) is not in it; ``capacity``
  when the site has fewer free GPUs than asked. A site can have both (by code:
  capacity, then jurisdiction). Excluded sites are sorted by id; candidates by
  score, high first, then id.
* The sites are every ``site`` node in the store.
* Warnings (the answer goes on): a ``modelId`` that is not in the graph (hot
  nowhere, as modelHotness says NOT_FOUND), an allowed jurisdiction no site has.

At ``at`` = now (``request.at_us`` None) the answer is the same, read from the
pipeline's site-state read model (:mod:`fleetgraph.ingest.read_models.site_state`)
instead of the whole fleet: ``scan_nodes("site")``, the ``site_state`` rows, the
sites whose row does not hold now computed here in one batch (the same fleet state,
restricted to them), modelHotness and ``cached_at`` as above, and the free GPUs by
server (``site_free_gpus`` rows) of the first ``servers_for`` candidates only. An
explicit ``at`` (past or future) reads the whole fleet as above.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from fleetgraph.core.units import HOUR_US
from fleetgraph.graph_model.fleet import CACHED_TYPES
from fleetgraph.graph_model.records import NodeRecord
from fleetgraph.ingest.read_models.fleet_state import FleetState
from fleetgraph.ingest.read_models.site_state import (
    SITE_FREE_GPUS,
    SITE_STATE,
    Computed,
    FreeByServer,
    SiteState,
    compute_site_states,
    decode_free,
)
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.blast_radius import fleet_state
from fleetgraph.serving.queries.hotness import model_hotness
from fleetgraph.serving.queries.lookup import type_of
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

SITE_PAGE = 5000
HOTNESS_SPAN_US = 24 * HOUR_US
WEIGHTS = {"gpu": 0.35, "health": 0.15, "model": 0.25, "data": 0.15, "energy": 0.10}
REGION_BONUS = 0.05

ReasonCode = Literal["jurisdiction", "capacity"]


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """A job of ``gpus`` GPUs (kept in one site); ``at_us`` defaults to now."""

    gpus: int
    model_id: str | None = None
    dataset_ids: Sequence[str] = ()
    allowed_jurisdictions: Collection[str] | None = None
    preferred_region: str | None = None
    at_us: int | None = None  # None: now, from the read model
    servers_for: int | None = None  # candidates given free GPUs by server (None: all)


@dataclass(frozen=True, slots=True)
class ScoreParts:
    """The unweighted parts of a score, each in [0, 1]."""

    gpu: float
    health: float
    model: float
    data: float
    energy: float
    region: float

    @property
    def score(self) -> float:
        return (
            WEIGHTS["gpu"] * self.gpu
            + WEIGHTS["health"] * self.health
            + WEIGHTS["model"] * self.model
            + WEIGHTS["data"] * self.data
            + WEIGHTS["energy"] * self.energy
            + REGION_BONUS * self.region
        )


@dataclass(frozen=True, slots=True)
class ServerGpus:
    """Free GPUs of one server, by id."""

    server_id: str
    gpu_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    site_id: str
    score: float
    free_gpus: int
    parts: ScoreParts
    servers: tuple[ServerGpus, ...] = ()  # every free GPU, by server id


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    detail: str


@dataclass(frozen=True, slots=True)
class Excluded:
    site_id: str
    reasons: list[Reason]
    free_gpus: int = 0


@dataclass(frozen=True, slots=True)
class PlacementAnswer:
    at_us: int
    gpus: int
    candidates: list[Candidate]
    excluded: list[Excluded]
    warnings: list[str] = field(default_factory=list)  # unknown model, jurisdiction


# --- the fleet at `at` ----------------------------------------------------------------


def scan_sites(store: GraphStore) -> dict[str, NodeRecord]:
    """Every site node, by id (in id order)."""
    sites: dict[str, NodeRecord] = {}
    after: str | None = None
    while True:
        page = store.scan_nodes("site", after, SITE_PAGE)
        sites.update((r.id, r) for r in page.records)
        if page.next_after is None:
            return dict(sorted(sites.items()))
        after = page.next_after


# --- placement ---------------------------------------------------------------------------


def placement(store: GraphStore, request: PlacementRequest, now_us: int) -> PlacementAnswer:
    """Sites ranked for ``request``, and the sites excluded with their reasons: at now
    from the read model (``request.at_us`` None), else from the whole fleet."""
    if request.at_us is None:
        return placement_now(store, request, now_us)
    return placement_reference(store, request, now_us)


def _check(request: PlacementRequest) -> list[str]:
    """The request's dataset ids, once each; InvalidArgument for a bad request."""
    if request.gpus < 1:
        raise InvalidArgument(f"gpus must be at least 1, got {request.gpus}")
    if request.servers_for is not None and request.servers_for < 0:
        raise InvalidArgument(f"servers_for must not be negative, got {request.servers_for}")
    if request.model_id is not None and type_of(request.model_id) != "model":
        raise InvalidArgument(f"{request.model_id!r} is not a model id (model:<name>)")
    datasets = list(dict.fromkeys(request.dataset_ids))
    for item in datasets:
        if type_of(item) not in CACHED_TYPES:
            raise InvalidArgument(f"{item!r} is not a dataset or artifact id")
    return datasets


def placement_reference(
    store: GraphStore, request: PlacementRequest, now_us: int
) -> PlacementAnswer:
    """The definition: the whole fleet read at ``at`` (now when ``at_us`` is None)."""
    datasets = _check(request)
    at_us = now_us if request.at_us is None else request.at_us

    sites = scan_sites(store)
    state = fleet_state(store, list(sites), at_us)
    free = _free_gpus(store, sites, state)
    model, warnings = _model_parts(store, request.model_id, at_us)
    data = _data_parts(store, datasets, at_us)
    allowed = None if request.allowed_jurisdictions is None else set(
        request.allowed_jurisdictions
    )
    warnings += _jurisdiction_warnings(sites, allowed)

    counts: dict[str, int] = {}
    health: dict[str, float] = {}
    for site_id in sites:
        by_server = free.get(site_id, {})
        counts[site_id] = len({g for gpus in by_server.values() for g in gpus})
        racks = _contents(state, site_id, "rack")
        healthy = sum(1 for r in racks if state.is_healthy(r))
        health[site_id] = healthy / len(racks) if racks else 0.0
    candidates, excluded = _rank(request, sites, counts, health, model, data, allowed)
    listed = candidates if request.servers_for is None else candidates[: request.servers_for]
    for i, c in enumerate(listed):
        servers = tuple(ServerGpus(server, tuple(sorted(gpus)))
                        for server, gpus in sorted(free.get(c.site_id, {}).items()))
        candidates[i] = Candidate(c.site_id, c.score, c.free_gpus, c.parts, servers)
    return PlacementAnswer(at_us, request.gpus, candidates, excluded, warnings)


def placement_now(store: GraphStore, request: PlacementRequest, now_us: int) -> PlacementAnswer:
    """The answer at ``now_us`` from the site-state read model (module docstring)."""
    datasets = _check(request)
    sites = scan_sites(store)
    rows = store.get_read_models(SITE_STATE)
    states: dict[str, SiteState] = {}
    for site_id in sites:
        text = rows.get(site_id)
        summary = None if text is None else SiteState.decode(site_id, text)
        if summary is not None and summary.holds_at(now_us):
            states[site_id] = summary
    computed = compute_site_states(store, [s for s in sites if s not in states], now_us)
    states.update((s, c.state) for s, c in computed.items())
    model, warnings = _model_parts(store, request.model_id, now_us)
    data = _data_parts(store, datasets, now_us)
    allowed = None if request.allowed_jurisdictions is None else set(
        request.allowed_jurisdictions
    )
    warnings += _jurisdiction_warnings(sites, allowed)

    counts = {s: states[s].free_gpus for s in sites if s in states}
    health = {s: states[s].healthy_racks / states[s].racks
              for s in sites if s in states and states[s].racks}
    candidates, excluded = _rank(request, sites, counts, health, model, data, allowed)
    listed = candidates if request.servers_for is None else candidates[: request.servers_for]
    free = _free_lists(store, [c.site_id for c in listed], computed, now_us)
    for i, c in enumerate(listed):
        lists = sorted(free[c.site_id].items())
        servers = tuple(ServerGpus(server, gpus) for server, gpus in lists)
        candidates[i] = Candidate(c.site_id, c.score, c.free_gpus, c.parts, servers)
    return PlacementAnswer(now_us, request.gpus, candidates, excluded, warnings)


def _rank(
    request: PlacementRequest,
    sites: Mapping[str, NodeRecord],
    counts: Mapping[str, int],
    health: Mapping[str, float],
    model: Mapping[str, float],
    data: Mapping[str, float],
    allowed: set[str] | None,
) -> tuple[list[Candidate], list[Excluded]]:
    """The candidates (by score, high first, then id; no server lists yet) and the
    excluded sites (by id) from each site's free GPU count and rack health (both
    read paths rank with this)."""
    candidates: list[Candidate] = []
    excluded: list[Excluded] = []
    for site_id, site in sites.items():
        count = counts.get(site_id, 0)
        reasons: list[Reason] = []
        if count < request.gpus:
            reasons.append(Reason("capacity", f"{count} free GPUs, {request.gpus} needed"))
        jurisdiction = site.props.get("jurisdiction")
        if allowed is not None and jurisdiction not in allowed:
            reasons.append(Reason("jurisdiction", _jurisdiction_detail(jurisdiction, allowed)))
        if reasons:
            excluded.append(Excluded(site_id, reasons, count))
            continue
        parts = ScoreParts(
            gpu=min(1.0, count / (2 * request.gpus)),
            health=health.get(site_id, 0.0),
            model=model.get(site_id, 0.0),
            data=data.get(site_id, 0.0),
            energy=energy_part(site.props),
            region=1.0
            if request.preferred_region is not None
            and site.props.get("region") == request.preferred_region
            else 0.0,
        )
        candidates.append(Candidate(site_id, parts.score, count, parts))
    candidates.sort(key=lambda c: (-c.score, c.site_id))
    return candidates, excluded


def _free_lists(
    store: GraphStore, site_ids: list[str], computed: Mapping[str, Computed], now_us: int
) -> dict[str, FreeByServer]:
    """Free GPUs by server of ``site_ids``: computed here, else their read-model rows
    (a missing or unreadable row: computed now)."""
    free: dict[str, FreeByServer] = {}
    for site_id in site_ids:
        done = computed.get(site_id)
        if done is not None:
            free[site_id] = done.free
    wanted = [s for s in site_ids if s not in free]
    if wanted:
        for site_id, text in store.get_read_models(SITE_FREE_GPUS, wanted).items():
            lists = decode_free(text)
            if lists is not None:
                free[site_id] = lists
    missing = [s for s in site_ids if s not in free]
    if missing:
        free.update((s, c.free) for s, c in compute_site_states(store, missing, now_us).items())
    return {s: free.get(s, {}) for s in site_ids}


def _jurisdiction_warnings(sites: Mapping[str, NodeRecord], allowed: set[str] | None) -> list[str]:
    """An allowed jurisdiction that no site has."""
    if not allowed:
        return []
    held = {site.props.get("jurisdiction") for site in sites.values()}
    return [f"no site has jurisdiction {j!r}" for j in sorted(allowed) if j not in held]


def _jurisdiction_detail(jurisdiction: object, allowed: set[str]) -> str:
    where = "no jurisdiction" if jurisdiction is None else f"jurisdiction {jurisdiction!r}"
    return f"{where} is not among the allowed ({', '.join(sorted(allowed)) or 'none'})"


def _contents(state: FleetState, container: str, node_type: str) -> list[str]:
    """What ``container`` holds at ``at`` of ``node_type``, by id."""
    return state.contents(container, node_type)


def _free_gpus(
    store: GraphStore, sites: Mapping[str, NodeRecord], state: FleetState
) -> dict[str, dict[str, set[str]]]:
    """site -> server -> free GPUs; one store call (``allocated`` IN, valid at ``at``)."""
    maybe: dict[str, dict[str, set[str]]] = {}
    for site_id in sites:
        for rack_id in _contents(state, site_id, "rack"):
            if not state.is_healthy(rack_id):
                continue
            for server_id in _contents(state, rack_id, "server"):
                if server_id in state.down:
                    continue
                for gpu_id in _contents(state, server_id, "gpu"):
                    if gpu_id not in state.down:
                        maybe.setdefault(site_id, {}).setdefault(server_id, set()).add(gpu_id)
    gpus = list(dict.fromkeys(g for s in maybe.values() for gs in s.values() for g in gs))
    if not gpus:
        return {}
    at = TimeWindow.at(state.topology.at_us)
    allocated = store.neighbours("allocated", gpus, Direction.IN, at)
    taken = {gpu for gpu, edges in allocated.items() if edges}
    free: dict[str, dict[str, set[str]]] = {}
    for site_id, servers in maybe.items():
        for server_id, server_gpus in servers.items():
            left = server_gpus - taken
            if left:
                free.setdefault(site_id, {})[server_id] = left
    return free


def _model_parts(
    store: GraphStore, model_id: str | None, at_us: int
) -> tuple[dict[str, float], list[str]]:
    """site -> its modelHotness score over the best one (3 store calls with a model),
    and a warning when the model is not in the graph."""
    if model_id is None:
        return {}, []
    try:
        ranked = model_hotness(store, model_id, TimeWindow(at_us - HOTNESS_SPAN_US, at_us))
    except NotFound:  # a model the graph does not know is hot nowhere
        return {}, [f"model {model_id!r} is not in the graph: it is hot nowhere"]
    best = max((s.score for s in ranked), default=0.0)
    if not best > 0:
        return {}, []
    return {s.site_id: s.score / best for s in ranked}, []


def _data_parts(store: GraphStore, datasets: list[str], at_us: int) -> dict[str, float]:
    """site -> share of the datasets with a replica valid at ``at`` there (1 store call)."""
    if not datasets:
        return {}
    replicas = store.neighbours("cached_at", datasets, Direction.OUT, TimeWindow.at(at_us))
    holders: dict[str, set[str]] = {}
    for dataset_id, edges in replicas.items():
        for edge in edges:
            holders.setdefault(edge.to_id, set()).add(dataset_id)
    return {site: len(held) / len(datasets) for site, held in holders.items()}


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _number(props: Mapping[str, object], name: str) -> float:
    value = props.get(name)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return 0.0


def energy_part(props: Mapping[str, object]) -> float:
    """Mean of clamp(headroom/1000), battery_soc and clamp(solar/500); missing counts 0."""
    return (
        _clamp(_number(props, "power_headroom_kw") / 1000)
        + _number(props, "battery_soc")
        + _clamp(_number(props, "solar_kw") / 500)
    ) / 3


# --- choosing GPUs -------------------------------------------------------------------------


def pick_gpus(
    servers: Iterable[ServerGpus], count: int, skip: Collection[str] = ()
) -> list[ServerGpus]:
    """Up to ``count`` free GPUs on as few servers as possible, leaving out ``skip``.

    When one server has enough, the one with the fewest free GPUs that does (then the
    lowest id); otherwise servers with the most free GPUs first (then the lowest id).
    GPUs are taken in id order; the result is sorted by server id.
    """
    if count < 1:
        return []
    skipped = set(skip)
    pool = [
        ServerGpus(s.server_id, tuple(g for g in s.gpu_ids if g not in skipped)) for s in servers
    ]
    pool = [s for s in pool if s.gpu_ids]
    fitting = [s for s in pool if len(s.gpu_ids) >= count]
    if fitting:
        best = min(fitting, key=lambda s: (len(s.gpu_ids), s.server_id))
        return [ServerGpus(best.server_id, best.gpu_ids[:count])]
    chosen: list[ServerGpus] = []
    taken: set[str] = set()  # a GPU listed under two servers is taken once
    for server in sorted(pool, key=lambda s: (-len(s.gpu_ids), s.server_id)):
        left = count - len(taken)
        if left <= 0:
            break
        gpus = tuple(g for g in server.gpu_ids if g not in taken)[:left]
        if gpus:
            chosen.append(ServerGpus(server.server_id, gpus))
            taken.update(gpus)
    return sorted(chosen, key=lambda s: s.server_id)

