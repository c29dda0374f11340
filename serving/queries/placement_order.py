"""placement's best ``first`` candidates from the site order, without scoring every site.

The score is a sum of parts, each growing with one thing known of a site: its free GPUs
(``0.35 min(1, free / 2G)``), its summary's health and energy (``0.15 health + 0.10
energy``), the model's heat there, the share of the datasets it holds, its region. The
walk reads the sites in several orders at once (the threshold algorithm): by free GPUs
and by health and energy (the site order, :mod:`fleetgraph.ingest.read_models.
site_order`), by the model's bound (``model_sites``) or exact part, and the preferred
region's sites. A site met in any order is scored exactly (the model part of a batch of
them at once); one not met yet scores at most the sum of each order's next value. The
walk stops when that sum is below the ``first``-th score kept (with a margin for
rounding), or when every site is met: the candidates are the head of the whole ranking
(by score, high first, then id), with the same parts and scores.

Sites met before the walk: those the caller computed (pending, unknown, expired) and
those holding one of the datasets; a site not met holds none (its data part is 0).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from fleetgraph.ingest.read_models.site_order import SiteOrder, rest_part
from fleetgraph.ingest.read_models.site_state import SiteState
from fleetgraph.serving.queries.hotness import ModelHeat

WEIGHTS = {"gpu": 0.35, "health": 0.15, "model": 0.25, "data": 0.15, "energy": 0.10}
REGION_BONUS = 0.05
BATCH_EXTRA = 6  # sites taken from each order beyond 'first' in the first batch (then doubled)
MARGIN = 1e-9  # a threshold and a score are rounded apart by far less

Ranked = tuple[float, str, int, tuple[float, float, float, float, float, float]]


def weighted_score(gpu: float, health: float, model: float, data: float, energy: float,
                   region: float) -> float:
    """0.35 gpu + 0.15 health + 0.25 model + 0.15 data + 0.10 energy + 0.05 region."""
    return (
        WEIGHTS["gpu"] * gpu
        + WEIGHTS["health"] * health
        + WEIGHTS["model"] * model
        + WEIGHTS["data"] * data
        + WEIGHTS["energy"] * energy
        + REGION_BONUS * region
    )


@dataclass
class _Cursor:
    """One order's walk: ``value`` bounds the part of every site at or after ``at``."""

    order: Sequence[str]
    value: Callable[[str], float]
    at: int = 0

    def next_unmet(self, met: Collection[str]) -> str | None:
        while self.at < len(self.order) and self.order[self.at] in met:
            self.at += 1
        return self.order[self.at] if self.at < len(self.order) else None

    def bound(self, met: Collection[str]) -> float:
        site_id = self.next_unmet(met)
        return 0.0 if site_id is None else self.value(site_id)

    def take(self, met: set[str], count: int) -> list[str]:
        taken: list[str] = []
        while len(taken) < count and (site_id := self.next_unmet(met)) is not None:
            met.add(site_id)
            taken.append(site_id)
        return taken


@dataclass(frozen=True, slots=True)
class Ask:
    """What of a request the walk needs."""

    gpus: int
    first: int
    allowed: frozenset[str] | None  # None: any jurisdiction
    preferred: str | None


def best_from_order(
    ask: Ask, order: SiteOrder, recomputed: Collection[str], computed: Mapping[str, SiteState],
    model: Mapping[str, float], data: Mapping[str, float], heat: ModelHeat | None,
) -> tuple[list[Ranked], int]:
    """The best ``ask.first`` candidates (ranked tuples, by score high first then id) of
    the sites of ``order``, those ``recomputed`` replaced by ``computed`` (a site
    recomputed and not in it is no longer one), and the number of sites scored. The
    model part: ``heat``'s exact scores over its best when given (0 when its best is
    0), else ``model``."""
    states = _States(order, recomputed, computed)
    if ask.first < 1:
        return [], 0
    best_heat = heat.best if heat is not None else 0.0
    cursors = [
        _Cursor(order.by_free, lambda s: WEIGHTS["gpu"] * _gpu(states[s].free_gpus, ask.gpus)
                if states[s].free_gpus >= ask.gpus else -1.0),
        _Cursor(order.by_rest, lambda s: rest_part(states[s])),
    ]
    if heat is not None and best_heat > 0:
        cursors.append(_Cursor([s for s, _ in heat.row.sites],
                               lambda s: WEIGHTS["model"] * min(1.0, heat.bound(s) / best_heat)))
    elif heat is None and model:
        ranked_model = sorted(model, key=lambda s: (-model[s], s))
        cursors.append(_Cursor(ranked_model, lambda s: WEIGHTS["model"] * model[s]))
    if ask.preferred is not None:
        cursors.append(_Cursor(order.by_region.get(ask.preferred, ()), lambda s: REGION_BONUS))
    batch = sorted(set(computed) | {s for s in data if s in states})
    met = set(batch) | set(recomputed)
    kept: list[Ranked] = []  # exact, best first
    bounded: list[Ranked] = []  # met, the model part a bound (with heat), best bound first
    scored = 0
    size = ask.first + BATCH_EXTRA
    while True:
        for cursor in cursors:
            batch += cursor.take(met, size)
        size *= 2
        ranked = _score(ask, [states[s] for s in batch if s in states], data, heat, best_heat,
                        model)
        scored += len(batch)
        if heat is not None and best_heat > 0:
            bounded = sorted(bounded + ranked)
            kept, bounded = exact_while_they_can_rank(kept, bounded, ask.first, heat)
        else:
            kept = sorted(kept + ranked)[: ask.first]
        if cursors[0].next_unmet(met) is None or cursors[0].bound(met) < 0:
            return kept, scored  # every site met, or none left with enough free GPUs
        threshold = sum(c.bound(met) for c in cursors)
        if len(kept) >= ask.first and threshold + MARGIN < -kept[ask.first - 1][0]:
            return kept, scored
        batch = []


class _States:
    """The summaries: ``computed``'s, else the order's unless recomputed."""

    def __init__(self, order: SiteOrder, recomputed: Collection[str],
                 computed: Mapping[str, SiteState]) -> None:
        self.order = order
        self.recomputed = recomputed
        self.computed = computed

    def __getitem__(self, site_id: str) -> SiteState:
        found = self.computed.get(site_id)
        return found if found is not None else self.order.states[site_id]

    def __contains__(self, site_id: object) -> bool:
        return site_id in self.computed or (
            site_id in self.order.states and site_id not in self.recomputed)


def _gpu(free: int, gpus: int) -> float:
    return min(1.0, free / (2 * gpus))


def exact_while_they_can_rank(kept: list[Ranked], bounded: list[Ranked], first: int,
                               heat: ModelHeat) -> tuple[list[Ranked], list[Ranked]]:
    """The best of ``bounded`` (by bound, best first) made exact (their model part of
    ``heat``'s exact score over its best), a batch at a time, while the best bound left
    can rank among the ``first`` kept (``first`` at least 1); the kept and those left."""
    step = first + BATCH_EXTRA
    while bounded and (len(kept) < first or -bounded[0][0] + MARGIN >= -kept[first - 1][0]):
        batch, bounded = bounded[:step], bounded[step:]
        step *= 2
        scores = heat.scores([site_id for _, site_id, _, _ in batch])
        for _, site_id, count, (gpu, health, _, local, energy, region) in batch:
            hot = scores[site_id] / heat.best
            score = weighted_score(gpu, health, hot, local, energy, region)
            kept.append((-score, site_id, count, (gpu, health, hot, local, energy, region)))
        kept.sort()
        del kept[first:]
    return kept, bounded


def _score(ask: Ask, sites: list[SiteState], data: Mapping[str, float],
           heat: ModelHeat | None, best_heat: float, model: Mapping[str, float]
           ) -> list[Ranked]:
    """The candidates among ``sites`` (enough free GPUs, an allowed jurisdiction),
    scored: exactly, but for the model part with ``heat`` (its bound over the best,
    made exact later; 0 when the best is 0)."""
    fit = [s for s in sites if s.free_gpus >= ask.gpus and s.props is not None and (
        ask.allowed is None or s.props.jurisdiction in ask.allowed)]
    ranked: list[Ranked] = []
    for site in fit:
        props = site.props
        assert props is not None
        gpu = _gpu(site.free_gpus, ask.gpus)
        health = site.healthy_racks / site.racks if site.racks else 0.0
        if heat is None:
            part = model.get(site.site_id, 0.0)
        else:
            part = min(1.0, heat.bound(site.site_id) / best_heat) if best_heat > 0 else 0.0
        local = data.get(site.site_id, 0.0)
        region = 1.0 if ask.preferred is not None and props.region == ask.preferred else 0.0
        score = weighted_score(gpu, health, part, local, props.energy, region)
        ranked.append((-score, site.site_id, site.free_gpus,
                       (gpu, health, part, local, props.energy, region)))
    return ranked


def jurisdictions_held(order: SiteOrder, computed: Mapping[str, SiteState],
                       recomputed: Collection[str], allowed: Collection[str]) -> set[str]:
    """Those of ``allowed`` some site has: the order's counts, less the sites recomputed
    (``recomputed``: asked, whether or not still a site), plus ``computed``'s."""
    counts = {j: order.jurisdictions.get(j, 0) for j in allowed}
    for site_id in recomputed:
        _count(counts, order.states.get(site_id), -1)
    for state in computed.values():
        _count(counts, state, 1)
    return {j for j, n in counts.items() if n > 0}


def _count(counts: dict[str, int], state: SiteState | None, step: int) -> None:
    jurisdiction = None if state is None or state.props is None else state.props.jurisdiction
    if isinstance(jurisdiction, str) and jurisdiction in counts:
        counts[jurisdiction] += step
