"""modelHotness: sites ranked by how hot a model's artifacts are there.

See docs/queries.md. Three store reads: the model and its artifacts (``artifact_of``
in), together (``GraphStore.together``), then their replicas (``cached_at`` out,
overlapping the window, history included: docs/queries.md, "Horizons and history").
A replica pair with several intervals in the window counts once, by its latest; an
interval with neither a known start nor an access (an eviction without a
replication) is no evidence of heat and is left out.

The replicas come from the pipeline's ``replicas`` read model where its rows hold
(:mod:`fleetgraph.ingest.read_models.replicas`: one ``get_read_models`` for the
artifacts, no history folded), and from the store for the artifacts without one;
both give the intervals the store gives for the window.

With ``first``, the pipeline's ``model_sites`` rows (:mod:`fleetgraph.ingest.read_models.
model_sites`) give the model's sites ordered by a bound on their score at any window's
end (the model's row, a row a site of its artifacts' pairs there): the sites are read in
that order, a batch at a time (the pairs' replicas in the window, scored as above),
until the next site's bound is below the ``first``-th score kept. A pair whose row cannot
tell the window (see the ``replicas`` module) sends the query to the whole model. The
cost follows the page, not the model's history, when the scores in the window are near
their bounds (recent replicas); the answer is the head of the whole ranking either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.intervals import overlaps
from fleetgraph.ingest.read_models.model_sites import (
    HALF_LIFE_US,
    TIER_WEIGHT,
    ModelSites,
    SitePairs,
    bound,
    model_sites_at,
    site_items,
)
from fleetgraph.ingest.read_models.replicas import Replica, pair_within, replicas_within
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.lookup import type_of
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

__all__ = ["HALF_LIFE_US", "TIER_WEIGHT", "ModelHeat", "ReplicaEvidence", "SiteHotness",
           "model_heat", "model_hotness", "replica_score"]
BATCH_EXTRA = 6  # sites read beyond 'first' in the bounded walk's first batch (then doubled)
BOUND_MARGIN = 1e-9  # a bound and a score are rounded apart by far less


@dataclass(frozen=True, slots=True)
class ReplicaEvidence:
    """One replica of one of the model's artifacts at a site, and its score."""

    artifact_id: str
    tier: int | None
    last_access: int | None
    hits: int | None
    score: float


@dataclass(frozen=True, slots=True)
class SiteHotness:
    site_id: str
    score: float
    replicas: list[ReplicaEvidence]  # sorted by artifact id


def replica_score(tier: int | None, reference: int | None, hits: int | None, end: int) -> float:
    """``tier_weight * 0.5 ** (age / half_life) * (1 + log2(1 + hits))``.

    ``reference`` is the last access (or the replica's start); without one the
    age is unbounded and the score 0. An unknown tier weighs 0.
    """
    weight = TIER_WEIGHT.get(tier, 0.0) if tier is not None else 0.0
    if reference is None:
        return 0.0
    age = max(0, end - reference)
    decay: float = 0.5 ** (age / HALF_LIFE_US)
    return weight * decay * (1 + math.log2(1 + max(0, hits or 0)))


def model_hotness(
    store: GraphStore, model_id: str, window: TimeWindow, first: int | None = None,
    now_us: int | None = None,
) -> list[SiteHotness]:
    """Sites where ``model_id``'s artifacts have replicas overlapping ``window``, hottest
    first; with ``first``, only the ``first`` hottest (the same sites, scores and
    replicas as the head of the whole ranking), read from the ``model_sites`` read
    model where its row holds: the sites by bound until no other can rank (module
    docstring), else the whole model. Without ``first``, every site's row of pairs where
    the rows hold, else every artifact's replicas.
    ``now_us`` (default the wall clock) is the instant the read-model rows must hold at:
    the store's now."""
    if first is not None and first < 1:
        raise InvalidArgument(f"'first' must be at least 1, got {first}")
    if window.end is None:
        raise InvalidArgument("modelHotness needs a window end (the age is measured from it)")
    if type_of(model_id) != "model":
        raise InvalidArgument(f"{model_id!r} is not a model id (model:<name>)")
    now = wall_clock_us() if now_us is None else now_us
    row = _row_for(store, model_id, window, now)  # kept only for a model with artifacts
    hottest = None if row is None else _hottest(store, row, window, first) if (
        first is not None) else _every_site(store, row, window)
    if hottest is not None:
        return hottest
    found, artifacts_of = store.together(
        lambda: store.get_nodes([model_id]),
        lambda: store.neighbour_ids("artifact_of", [model_id], Direction.IN))
    artifacts = artifacts_of[model_id]
    if not found and not artifacts:
        raise NotFound(f"no model {model_id!r} in the graph")
    if not artifacts:
        return []
    ranked = _site_hotness(artifacts, replicas_within(store, artifacts, window, now), window)
    ranked.sort(key=_rank)
    return ranked if first is None else ranked[:first]


def _rank(site: SiteHotness) -> tuple[float, str]:
    return -site.score, site.site_id


def _site_hotness(
    artifacts: Iterable[str], replicas: Mapping[str, list[Replica]], window: TimeWindow
) -> list[SiteHotness]:
    """The sites where ``artifacts`` have an evidenced replica overlapping ``window``,
    scored (not ranked)."""
    by_site: dict[str, list[ReplicaEvidence]] = {}
    query = window.interval
    end = window.end
    assert end is not None
    for artifact_id in artifacts:
        latest: dict[str, Replica] = {}  # by site: the pair's latest interval
        for replica in replicas[artifact_id]:
            if overlaps((replica.start, replica.end), query) and _evidenced(replica):
                latest[replica.site_id] = replica  # a pair's intervals come by start
        for site, replica in latest.items():
            by_site.setdefault(site, []).append(_evidence(artifact_id, replica, end))
    return _scored(by_site)


def _evidence(artifact_id: str, replica: Replica, end: int) -> ReplicaEvidence:
    props = replica.props
    tier, last_access, hits = props.get("tier"), props.get("last_access"), props.get("hits")
    reference = last_access if last_access is not None else replica.start
    return ReplicaEvidence(artifact_id, tier, last_access, hits,
                           replica_score(tier, reference, hits, end))


def _scored(by_site: Mapping[str, list[ReplicaEvidence]]) -> list[SiteHotness]:
    return [
        SiteHotness(site, math.fsum(r.score for r in found_replicas), _by_artifact(found_replicas))
        for site, found_replicas in by_site.items()
    ]


def _pairs_hotness(pairs_by_site: Mapping[str, SitePairs], window: TimeWindow
                   ) -> list[SiteHotness] | None:
    """:func:`_site_hotness` of the sites of ``pairs_by_site`` (from their ``model_sites``
    rows), each pair's replicas in the window from the pair; None when a pair cannot tell
    (a live edge without an end after the window's end: the ranking row's
    ``bounds_window`` keeps such windows off this path)."""
    by_site: dict[str, list[ReplicaEvidence]] = {}
    start, end = window.start, window.end
    assert end is not None
    found: list[Replica] = []
    for site, pairs in pairs_by_site.items():
        held: list[ReplicaEvidence] = []
        for artifact_id, pair in pairs:
            found.clear()
            if not pair_within(pair, start, end, found):  # only those overlapping
                return None
            for replica in reversed(found):  # the pair's latest evidenced interval
                if _evidenced(replica):
                    held.append(_evidence(artifact_id, replica, end))
                    break
        if held:
            by_site[site] = held
    return _scored(by_site)


def _row_for(store: GraphStore, model_id: str, window: TimeWindow, now_us: int
             ) -> ModelSites | None:
    """The model's ranking row when it holds at ``now_us`` and bounds ``window`` (every
    live edge it met starts before the window's end), else None."""
    row = None if window.end is None else model_sites_at(store, model_id, now_us)
    return row if row is not None and window.end is not None and row.bounds_window(
        window.end) else None


def _hottest(
    store: GraphStore, row: ModelSites, window: TimeWindow, first: int
) -> list[SiteHotness] | None:
    """The ``first`` hottest sites from the model's ranking ``row`` (:func:`_row_for`):
    its sites walked by bound, a batch at a time (their rows of pairs), until the next
    site's bound is below the last score kept; None when the site rows cannot tell (one
    missing or of another computation): the caller reads the whole model."""
    end = window.end
    assert end is not None
    order = row.sites
    kept: list[SiteHotness] = []
    done, size = 0, first + BATCH_EXTRA
    while done < len(order) and not (len(kept) >= first and _beyond(order[done], kept[-1],
                                                                      end)):
        batch = [site for site, _ in order[done : done + size]]
        done += len(batch)
        size *= 2
        items = site_items(store, row, batch)
        scored = None if items is None else _pairs_hotness(items, window)
        if scored is None:
            return None
        kept += scored
        kept.sort(key=_rank)
        del kept[first:]
    return kept


def _every_site(store: GraphStore, row: ModelSites, window: TimeWindow
                ) -> list[SiteHotness] | None:
    """The whole ranking from the model's ranking ``row`` and every site's row of pairs
    (a row a site, not one an artifact), or None when they cannot tell (as
    :func:`_hottest`)."""
    items = site_items(store, row, [site for site, _ in row.sites])
    ranked = None if items is None else _pairs_hotness(items, window)
    if ranked is not None:
        ranked.sort(key=_rank)
    return ranked


class ModelHeat:
    """A model's hotness at its sites over one window, for a ranking that needs few of
    them (placement's best candidates): ``best`` (the hottest site's score, 0 when
    none), a bound on any site's score, and the exact scores of the sites asked
    (their artifacts' replicas only). Made by :func:`model_heat` from the
    ``model_sites`` rows; when a site's artifacts cannot be read from them, the whole
    ranking is computed once and answers."""

    def __init__(self, store: GraphStore, row: ModelSites, window: TimeWindow, now_us: int,
                 best: float) -> None:
        self.store = store
        self.row = row
        self.window = window
        self.now_us = now_us
        self.best = best
        self._levels = dict(row.sites)
        self._whole: dict[str, float] | None = None

    def bound(self, site_id: str) -> float:
        """At least the site's score (0: the site holds none of the model's replicas)."""
        if site_id not in self._levels:
            return 0.0
        end = self.window.end
        assert end is not None
        return bound(self._levels[site_id], end) * (1 + BOUND_MARGIN)

    def scores(self, site_ids: Sequence[str]) -> dict[str, float]:
        """The exact score of each of ``site_ids`` (0 where the model is not hot)."""
        wanted = [s for s in site_ids if s in self._levels]
        found = self._whole or {}
        if wanted and self._whole is None:
            items = site_items(self.store, self.row, wanted)
            scored = None if items is None else _pairs_hotness(items, self.window)
            if scored is not None:  # the sites' pairs
                found = {s.site_id: s.score for s in scored}
            else:  # the rows cannot tell: the whole ranking, once
                self._whole = found = {s.site_id: s.score for s in model_hotness(
                    self.store, self.row.model_id, self.window, now_us=self.now_us)}
        return {s: found.get(s, 0.0) for s in site_ids}


def model_heat(
    store: GraphStore, model_id: str, window: TimeWindow, now_us: int
) -> ModelHeat | None:
    """The model's :class:`ModelHeat` over ``window`` from its ``model_sites`` row (its
    best score by the bounded walk), or None when the row does not hold (the caller
    reads the whole ranking). A model with a row has artifacts: it is in the graph."""
    if type_of(model_id) != "model":
        return None
    row = _row_for(store, model_id, window, now_us)
    if row is None:
        return None
    hottest = _hottest(store, row, window, 1)
    if hottest is None:
        return None
    return ModelHeat(store, row, window, now_us, hottest[0].score if hottest else 0.0)


def _beyond(site: tuple[str, float | None], last: SiteHotness, end: int) -> bool:
    """Whether neither ``site`` nor any after it in the row's order can rank before
    ``last``: its bound is below ``last``'s score (with a margin for rounding), or it
    is among the sites without a bound (all 0, by id) and after ``last``'s id at 0."""
    site_id, level = site
    if bound(level, end) * (1 + BOUND_MARGIN) < last.score:
        return True
    return level is None and last.score == 0 and site_id > last.site_id


def _evidenced(replica: Replica) -> bool:
    """The replica was there at a known time: it has a start or an access."""
    return replica.start is not None or replica.props.get("last_access") is not None


def _by_artifact(replicas: list[ReplicaEvidence]) -> list[ReplicaEvidence]:
    return sorted(replicas, key=lambda r: r.artifact_id)
