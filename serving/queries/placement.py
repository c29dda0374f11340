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
10-12. modelHotness over the 24 h before ``at`` (only with a model; its replicas from
   the ``replicas`` read model where its rows hold at now: no history folded);
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
instead of the whole fleet: the ``site_state`` rows (one read: every site's counts,
jurisdiction, region and energy; their keys are the sites when the rebuild's
directory row is there, else ``scan_nodes("site")`` lists them), the sites whose
row does not hold now computed here in one batch (the same fleet state, restricted
to them), modelHotness and ``cached_at`` as above, and the free GPUs by server
(``site_free_gpus`` rows) of the first ``servers_for`` candidates only; the summaries,
the model's hotness and the datasets' replicas are read together (``GraphStore.together``:
at once on a remote backend). With
``first``, only the best ``first`` candidates are built and returned (a bounded
heap; the excluded sites are all returned, unless ``excluded`` is False: not
selected). With ``first`` and a model whose ``model_sites`` row holds
(:mod:`fleetgraph.ingest.read_models.model_sites`), the model part is not read for
every site: the best score comes from modelHotness's bounded walk, each site's part
is bounded from its row, and the sites are made exact (their artifacts' replicas)
in order of their bounded score until the next bound is below the ``first``-th
score (:func:`_best_by_bound`): the same candidates, parts and scores.

With ``first`` and the excluded sites not selected (the scheduler's
``candidates(first: N)``), the ``site_state`` rows are not read either: the site order
(:mod:`fleetgraph.ingest.read_models.site_order`: every site's summary in one row, kept
with the rows) and its pending sites are read (two reads, with the directory mark),
the pending, unknown and expired sites computed here, and the sites walked by free
GPUs, by health and energy, by the model's bound and by the preferred region together
until none not met can rank among the best ``first``
(:mod:`fleetgraph.serving.queries.placement_order`): about ``first`` sites scored, the
same candidates. Without an order, or with one whose latest summary is after
``now_us``, the rows are read as above. An explicit ``at`` (past or future) reads the
whole fleet as above.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal

from fleetgraph.core.units import HOUR_US
from fleetgraph.graph_model.fleet import CACHED_TYPES
from fleetgraph.graph_model.records import NodeRecord
from fleetgraph.ingest.read_models.fleet_state import FleetState
from fleetgraph.ingest.read_models.site_order import SiteOrder, read_order
from fleetgraph.ingest.read_models.site_state import (
    DIRECTORY_KEY,
    FORMAT,
    SITE_FREE_GPUS,
    SITE_STATE,
    Computed,
    FreeByServer,
    SiteProps,
    SiteState,
    compute_site_states,
    decode_free,
)
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.blast_radius import fleet_state
from fleetgraph.serving.queries.hotness import ModelHeat, model_heat, model_hotness
from fleetgraph.serving.queries.lookup import type_of
from fleetgraph.serving.queries.placement_order import (
    Ask,
    best_from_order,
    exact_while_they_can_rank,
    jurisdictions_held,
    weighted_score,
)
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

SITE_PAGE = 5000
HOTNESS_SPAN_US = 24 * HOUR_US
DECODED_ROWS = 16_384  # site_state rows kept decoded (a few per site)
DECODED_LISTS = 256  # site_free_gpus rows kept decoded (the best candidates')

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
    first: int | None = None  # the best candidates returned (None: all)
    excluded: bool = True  # False: the excluded sites are not listed (the answer's is empty)


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
        return weighted_score(self.gpu, self.health, self.model, self.data, self.energy,
                              self.region)


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
    if request.first is not None and request.first < 0:
        raise InvalidArgument(f"first must not be negative, got {request.first}")
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
    model, warnings = _model_parts(store, request.model_id, at_us, now_us)
    data = _data_parts(store, datasets, at_us)
    states: list[SiteState] = []
    for site_id, site in sites.items():
        by_server = free.get(site_id, {})
        count = len({g for gpus in by_server.values() for g in gpus})
        racks = _contents(state, site_id, "rack")
        healthy = sum(1 for r in racks if state.is_healthy(r))
        states.append(SiteState(site_id, at_us, None, len(racks), healthy, count,
                                SiteProps.of(site.props)))
    candidates, excluded, more = _rank(request, states, model, data)
    warnings += more
    listed = candidates if request.servers_for is None else candidates[: request.servers_for]
    for i, c in enumerate(listed):
        servers = tuple(ServerGpus(server, tuple(sorted(gpus)))
                        for server, gpus in sorted(free.get(c.site_id, {}).items()))
        candidates[i] = Candidate(c.site_id, c.score, c.free_gpus, c.parts, servers)
    return PlacementAnswer(at_us, request.gpus, candidates, excluded, warnings)


def placement_now(store: GraphStore, request: PlacementRequest, now_us: int) -> PlacementAnswer:
    """The answer at ``now_us`` from the site-state read model (module docstring): from
    the site order when only the best ``first`` candidates are asked, without the
    excluded sites, and the order holds."""
    datasets = _check(request)
    ordered = request.first is not None and not request.excluded
    (found, pending, mark), heat, data = store.together(  # at once where it can
        lambda: _order_now(store) if ordered else (None, set(), None),
        lambda: _model_heat(store, request, now_us),
        lambda: _data_parts(store, datasets, now_us))
    model: dict[str, float] = {}
    warnings: list[str] = []
    if heat is None:
        model, warnings = _model_parts(store, request.model_id, now_us, now_us)
    if found is not None and mark == str(FORMAT) and found.latest_computed_us <= now_us:
        candidates, computed, more = _best_by_order(store, request, found, pending, now_us,
                                                    model, data, heat)
        excluded: list[Excluded] = []
    else:
        states, computed = site_states_now(store, now_us)
        candidates, excluded, more = _rank(request, states, model, data, heat)
    warnings += more
    listed = candidates if request.servers_for is None else candidates[: request.servers_for]
    free = _free_lists(store, [c.site_id for c in listed], computed, now_us)
    for i, c in enumerate(listed):
        lists = sorted(free[c.site_id].items())
        servers = tuple(ServerGpus(server, gpus) for server, gpus in lists)
        candidates[i] = Candidate(c.site_id, c.score, c.free_gpus, c.parts, servers)
    return PlacementAnswer(now_us, request.gpus, candidates, excluded, warnings)


def _order_now(store: GraphStore) -> tuple[SiteOrder | None, set[str], str | None]:
    """The site order, the pending sites and the directory mark (two reads, together)."""
    (found, pending), marks = store.together(
        lambda: read_order(store),
        lambda: store.get_read_models(SITE_STATE, [DIRECTORY_KEY]))
    return found, pending, marks.get(DIRECTORY_KEY)


def _best_by_order(
    store: GraphStore, request: PlacementRequest, order: SiteOrder, pending: set[str],
    now_us: int, model: Mapping[str, float], data: Mapping[str, float],
    heat: ModelHeat | None,
) -> tuple[list[Candidate], dict[str, Computed], list[str]]:
    """The best ``request.first`` candidates from the site order (no server lists yet),
    the sites computed here (pending, unknown, or no longer holding at ``now_us``) and
    the warnings about allowed jurisdictions no site has."""
    assert request.first is not None
    recomputed = sorted(pending | order.unknown | set(order.expired(now_us)))
    computed = compute_site_states(store, recomputed, now_us) if recomputed else {}
    summaries = {s: c.state for s, c in computed.items()}
    allowed = None if request.allowed_jurisdictions is None else frozenset(
        request.allowed_jurisdictions)
    ask = Ask(request.gpus, request.first, allowed, request.preferred_region)
    best, _ = best_from_order(ask, order, recomputed, summaries, model, data, heat)
    candidates = [Candidate(site_id, -negative, count, ScoreParts(*parts))
                  for negative, site_id, count, parts in best]
    held = jurisdictions_held(order, summaries, recomputed, allowed or ())
    warnings = [f"no site has jurisdiction {j!r}" for j in sorted(allowed or ())
                if j not in held]
    return candidates, computed, warnings


@lru_cache(maxsize=DECODED_ROWS)
def _summary(site_id: str, text: str) -> SiteState | None:
    """A ``site_state`` row read (rows change only when their site is recomputed: a
    row read before is not decoded again)."""
    return SiteState.decode(site_id, text)


@lru_cache(maxsize=DECODED_LISTS)
def _free_of(text: str) -> FreeByServer | None:
    """A ``site_free_gpus`` row read, as :func:`_summary` (callers must not change it)."""
    return decode_free(text)


@dataclass(frozen=True, slots=True)
class _Directory:
    """The last directory read whose every row had a summary with properties: while the
    rows read are the same and ``now`` within all their spans, its summaries stand."""

    rows: dict[str, str]
    states: tuple[SiteState, ...]  # every row's, by id
    since_us: int  # the latest computed_at
    until_us: int | None  # the earliest valid_until

    def holds_at(self, now_us: int) -> bool:
        return self.since_us <= now_us and (self.until_us is None or now_us < self.until_us)


_last_directory: _Directory | None = None  # replaced whole (a read in another thread)


def site_states_now(
    store: GraphStore, now_us: int
) -> tuple[Sequence[SiteState], dict[str, Computed]]:
    """Every site's summary at ``now_us`` with its properties, by id, and those computed
    here (the sites whose row does not hold then). The sites are the keys of the
    ``site_state`` rows when its directory row is there, else the site nodes; rows of
    layout 2 (without the site's properties) take them from the site nodes. Rows equal
    to the last directory read that held (compared as text) are not gone over again."""
    global _last_directory
    rows = store.get_read_models(SITE_STATE)
    nodes: dict[str, NodeRecord] = {}
    listed = rows.pop(DIRECTORY_KEY, None) == str(FORMAT)
    if listed:
        last = _last_directory
        if last is not None and last.holds_at(now_us) and last.rows == rows:
            return last.states, {}
        site_ids = sorted(rows)
    else:
        nodes = scan_sites(store)
        site_ids = list(nodes)
    held: dict[str, SiteState] = {}
    bare: list[SiteState] = []  # rows of layout 2 that hold: the site nodes have the rest
    for site_id in site_ids:
        text = rows.get(site_id)
        summary = None if text is None else _summary(site_id, text)
        if summary is None or not summary.holds_at(now_us):
            continue
        if summary.props is None:
            bare.append(summary)
        else:
            held[site_id] = summary
    if bare:
        missing = [s.site_id for s in bare if s.site_id not in nodes]
        nodes.update(store.get_nodes(missing) if missing else {})
        for summary in bare:
            node = nodes.get(summary.site_id)
            if node is not None:
                held[summary.site_id] = replace(summary, props=SiteProps.of(node.props))
    computed = compute_site_states(store, [s for s in site_ids if s not in held], now_us)
    held.update((site_id, done.state) for site_id, done in computed.items())
    states = tuple(held[s] for s in site_ids if s in held)
    if listed and not nodes and not computed and len(states) == len(rows):  # all held
        _last_directory = _Directory(
            rows, states, max((s.computed_at_us for s in states), default=now_us),
            min((s.valid_until_us for s in states if s.valid_until_us is not None),
                default=None))
    return states, computed


_Ranked = tuple[float, str, int, tuple[float, float, float, float, float, float]]


def _rank(
    request: PlacementRequest,
    sites: Iterable[SiteState],
    model: Mapping[str, float],
    data: Mapping[str, float],
    heat: ModelHeat | None = None,
) -> tuple[list[Candidate], list[Excluded], list[str]]:
    """The best ``request.first`` candidates (all without it; by score, high first,
    then id; no server lists yet), the excluded sites (in the order of ``sites``, by
    id; none unless ``request.excluded``) and the warnings about allowed jurisdictions
    no site has, from each site's free GPU count, rack health and properties (both read
    paths rank with this). Only the candidates returned are built: the others are
    ranked as tuples. The model part comes from ``model`` (site -> part), or from
    ``heat`` (then ``request.first`` is set): ranked by bound, exact for the few that
    can be among the best (:func:`_best_by_bound`)."""
    gpus = request.gpus
    allowed = None if request.allowed_jurisdictions is None else set(
        request.allowed_jurisdictions)
    preferred = request.preferred_region
    listing = request.excluded
    held: set[object] = set()
    ranked: list[_Ranked] = []
    excluded: list[Excluded] = []
    best_heat = heat.best if heat is not None else 0.0
    for site in sites:
        site_id, count, props = site.site_id, site.free_gpus, site.props
        if props is None:
            raise ValueError(f"the summary of {site_id} has no site properties")
        jurisdiction = props.jurisdiction
        if allowed:
            held.add(jurisdiction)
        if count < gpus or (allowed is not None and jurisdiction not in allowed):
            if listing:
                excluded.append(_excluded(site_id, count, gpus, jurisdiction, allowed))
            continue
        gpu = min(1.0, count / (2 * gpus))
        health = site.healthy_racks / site.racks if site.racks else 0.0
        if heat is None:
            hot = model.get(site_id, 0.0)
        else:  # a bound (the site's score is at most it): made exact if it can rank
            hot = min(1.0, heat.bound(site_id) / best_heat) if best_heat > 0 else 0.0
        local = data.get(site_id, 0.0)
        region = 1.0 if preferred is not None and props.region == preferred else 0.0
        score = weighted_score(gpu, health, hot, local, props.energy, region)
        ranked.append((-score, site_id, count, (gpu, health, hot, local, props.energy, region)))
    first = request.first
    if heat is not None and first is not None and best_heat > 0:
        best = _best_by_bound(ranked, first, heat)
    else:
        best = sorted(ranked) if first is None or first >= len(ranked) else heapq.nsmallest(
            first, ranked)
    candidates = [Candidate(site_id, -negative, count, ScoreParts(*parts))
                  for negative, site_id, count, parts in best]
    warnings = [f"no site has jurisdiction {j!r}" for j in sorted(allowed or ())
                if j not in held]
    return candidates, excluded, warnings


def _best_by_bound(ranked: list[_Ranked], first: int, heat: ModelHeat) -> list[_Ranked]:
    """The best ``first`` of ``ranked``, whose model parts are bounds: walked by bound
    (high first, then id), a batch at a time, each made exact (the model part of the
    site's exact score over ``heat.best``: the whole ranking's), until the next bound is
    below the ``first``-th exact score (a score is monotone in its parts)."""
    if first < 1:
        return []
    kept, _ = exact_while_they_can_rank([], sorted(ranked), first, heat)
    return kept


def _model_heat(store: GraphStore, request: PlacementRequest, now_us: int) -> ModelHeat | None:
    """The model part's bounds when only the best ``first`` candidates are asked and the
    model's ``model_sites`` row holds; else None (the whole ranking is read)."""
    if request.model_id is None or request.first is None:
        return None
    return model_heat(store, request.model_id,
                      TimeWindow(now_us - HOTNESS_SPAN_US, now_us), now_us)


def _excluded(site_id: str, count: int, gpus: int, jurisdiction: object,
              allowed: set[str] | None) -> Excluded:
    """A site excluded, with its reasons (by code: capacity, then jurisdiction)."""
    reasons: list[Reason] = []
    if count < gpus:
        reasons.append(Reason("capacity", f"{count} free GPUs, {gpus} needed"))
    if allowed is not None and jurisdiction not in allowed:
        reasons.append(Reason("jurisdiction", _jurisdiction_detail(jurisdiction, allowed)))
    return Excluded(site_id, reasons, count)


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
            lists = _free_of(text)
            if lists is not None:
                free[site_id] = lists
    missing = [s for s in site_ids if s not in free]
    if missing:
        free.update((s, c.free) for s, c in compute_site_states(store, missing, now_us).items())
    return {s: free.get(s, {}) for s in site_ids}


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
    store: GraphStore, model_id: str | None, at_us: int, now_us: int
) -> tuple[dict[str, float], list[str]]:
    """site -> its modelHotness score over the best one (3 store calls with a model:
    the artifacts' replicas from the ``replicas`` read model where its rows hold at the
    store's now ``now_us``, not the wall clock: a store on another clock, a replay or the
    bench's fleet, keeps rows that hold at its own now only), and a warning when the
    model is not in the graph."""
    if model_id is None:
        return {}, []
    try:
        ranked = model_hotness(store, model_id, TimeWindow(at_us - HOTNESS_SPAN_US, at_us),
                               now_us=now_us)
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

