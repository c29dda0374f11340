"""Model sites: the read model that lets ``modelHotness(first: k)`` read k sites, not the
model's whole replica history.

A model's hotness at a site is a sum over the pairs (artifact, site) of the model's
artifacts of ``tier_weight * 0.5 ** (age / half_life) * (1 + log2(1 + hits))``, one
interval a pair (:mod:`fleetgraph.serving.queries.hotness`). With ``c = tier_weight *
(1 + log2(1 + hits))`` and ``ref`` the interval's last access (or start), a pair's term
at a window's end is at most ``c * 2 ** ((ref - end) / half_life)``, whichever of the
pair's intervals the window picks (the age is clamped at 0, which only lowers it). So
``bound(site) = 2 ** (L(site) - end / half_life)`` with ``L(site) = log2(sum over the
site's pairs of max over the pair's intervals of c * 2 ** (ref / half_life))`` bounds
the site's score for every window ending at ``end``, and the order of the sites by
``L`` does not depend on the window.

Two read models, computed together, a model at a time:

* :data:`MODEL_SITES`, key the model id: the sites with a ``cached_at`` pair of any of
  the model's artifacts (``artifact_of`` in, as modelHotness reads them), by ``L``
  high first then id, the sites without a positive term last by id (``L`` None); when
  the row was computed, until when it holds (the earliest ``valid_until`` of its
  artifacts' :mod:`~fleetgraph.ingest.read_models.replicas` rows) and the latest start
  of a live edge met (a window ending at or before it may read history the row did not
  bound: the query reads the whole model then).
* :data:`MODEL_SITE_ITEMS`, key ``"<model id> <site id>"``: the model's artifacts with a
  pair at that site, each with its pair as the artifact's ``replicas`` row holds it
  (the intervals, the live edge's span, the interval from history alone), stamped with
  the computation's ``computed_at`` (a query takes them only with the ranking row of
  the same stamp, which holds no longer than the artifacts' rows did).

The query walks the sites in that order, a batch at a time: the pairs of the batch's
sites (one row a site, not the artifacts' rows with their pairs at every other site),
the exact scores; it stops when the next site's bound is below the k-th score found.
Without ``first``, it reads every site's row. The rows are kept by the pipeline
(:mod:`fleetgraph.ingest.read_models.maintain`): a ``cached_at`` write of an artifact,
or an ``artifact_of`` write, deletes its model's ranking row at once (the query then
reads the whole model, as before) and recomputes it with the replicas rows. Only while
the replicas rows are kept (:data:`~fleetgraph.ingest.read_models.replicas.KEPT`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from fleetgraph.core.units import HOUR_US
from fleetgraph.graph_model.records import EdgeUpsert
from fleetgraph.ingest.read_models.replicas import (
    CACHED_AT,
    KEPT,
    REPLICAS,
    ItemReplicas,
    Pair,
    Replica,
    compute_replicas,
    pair_fields,
    pair_of,
)
from fleetgraph.storage.base import Direction, GraphStore

MODEL_SITES = "model_sites"  # model id -> ModelSites.encode()
MODEL_SITE_ITEMS = "model_site_items"  # "<model id> <site id>" -> encode_site_pairs(...)
FORMAT = 1
ITEMS_FORMAT = 2  # 1 (two fields, no version): the artifact ids alone
ARTIFACT_OF = "artifact_of"
HALF_LIFE_US = 6 * HOUR_US  # modelHotness's scores (serving.queries.hotness)
TIER_WEIGHT: dict[int, float] = {0: 1.0, 1: 0.5, 2: 0.1}  # hot, warm, durable
DECODED = 4096  # ranking rows kept decoded
DECODED_SITES = 16_384  # sites' rows of pairs kept decoded (a whole model's, many pages)


def site_key(model_id: str, site_id: str) -> str:
    """The key of a model's artifacts at a site (ids hold no spaces)."""
    return f"{model_id} {site_id}"


def term_log2(replica: Replica) -> float | None:
    """``log2(c) + ref / half_life`` of one interval, or None when its term is 0 at every
    end (no tier weight, no reference)."""
    props = replica.props
    tier, last_access, hits = props.get("tier"), props.get("last_access"), props.get("hits")
    weight = TIER_WEIGHT.get(tier, 0.0) if tier is not None else 0.0
    reference = last_access if last_access is not None else replica.start
    if reference is None or not weight > 0:
        return None
    factor = weight * (1 + math.log2(1 + max(0, hits or 0)))
    return math.log2(factor) + reference / HALF_LIFE_US


def log2_sum(terms: Iterable[float]) -> float | None:
    """``log2(sum(2 ** t))`` without overflow; None for no terms."""
    found = list(terms)
    if not found:
        return None
    top = max(found)
    return top + math.log2(math.fsum(2.0 ** (t - top) for t in found))


def bound(level: float | None, end_us: int) -> float:
    """A site's bound at a window ending at ``end_us``, from its ``L``."""
    if level is None:
        return 0.0
    exponent = level - end_us / HALF_LIFE_US
    return math.inf if exponent > 1000 else 2.0 ** exponent


@dataclass(frozen=True, slots=True)
class ModelSites:
    """One model's ranking row."""

    model_id: str
    computed_at_us: int
    valid_until_us: int | None
    latest_live_us: int | None  # the latest live edge start met
    sites: tuple[tuple[str, float | None], ...]  # by L high first then id; None last

    def holds_at(self, now_us: int) -> bool:
        return self.computed_at_us <= now_us and (
            self.valid_until_us is None or now_us < self.valid_until_us)

    def bounds_window(self, end_us: int) -> bool:
        """Whether the bounds hold for a window ending at ``end_us``: every live edge
        met starts before it (the replicas rows merge them as the store does)."""
        return self.latest_live_us is None or self.latest_live_us < end_us

    def encode(self) -> str:
        return json.dumps([FORMAT, self.computed_at_us, self.valid_until_us,
                           self.latest_live_us, [list(s) for s in self.sites]],
                          separators=(",", ":"))

    @classmethod
    def decode(cls, model_id: str, text: str) -> ModelSites | None:
        try:
            version, computed, until, live, sites = json.loads(text)
            if version != FORMAT:
                return None
            return cls(model_id, int(computed), None if until is None else int(until),
                       None if live is None else int(live),
                       tuple((str(s), None if level is None else float(level))
                             for s, level in sites))
        except (ValueError, TypeError):
            return None


@lru_cache(maxsize=DECODED)
def _decoded(model_id: str, text: str) -> ModelSites | None:
    return ModelSites.decode(model_id, text)


def model_sites_at(store: GraphStore, model_id: str, now_us: int) -> ModelSites | None:
    """The model's ranking row when it is kept and holds at ``now_us``, else None."""
    if not KEPT:
        return None
    text = store.get_read_models(MODEL_SITES, [model_id]).get(model_id)
    row = None if text is None else _decoded(model_id, text)
    return row if row is not None and row.holds_at(now_us) else None


SitePairs = list[tuple[str, Pair]]  # (artifact id, its pair at the site), by artifact id


def encode_site_pairs(computed_at_us: int, pairs: SitePairs) -> str:
    return json.dumps([computed_at_us, ITEMS_FORMAT,
                       [[artifact, *pair_fields(pair)] for artifact, pair in pairs]],
                      separators=(",", ":"), sort_keys=True)


def site_items(store: GraphStore, row: ModelSites, site_ids: Sequence[str]
               ) -> dict[str, SitePairs] | None:
    """The model's artifacts at each of ``site_ids`` with their pairs there (one read),
    or None when a row is missing, of another layout, or from another computation
    than ``row``."""
    keys = [site_key(row.model_id, s) for s in site_ids]
    texts = store.get_read_models(MODEL_SITE_ITEMS, keys)
    found: dict[str, SitePairs] = {}
    for site_id, key in zip(site_ids, keys, strict=True):
        text = texts.get(key)
        decoded = None if text is None else _site_pairs(site_id, text)
        if decoded is None or decoded[0] != row.computed_at_us:
            return None
        found[site_id] = decoded[1]
    return found


@lru_cache(maxsize=DECODED_SITES)
def _site_pairs(site_id: str, text: str) -> tuple[int, SitePairs] | None:
    """A site's row: its stamp and pairs, or None when it is not of this layout. Kept
    decoded: the pairs are tuples, never changed."""
    try:
        stamp, version, entries = json.loads(text)
        if version != ITEMS_FORMAT:
            return None
        return int(stamp), [(str(artifact), pair_of(site_id, intervals, live, alone))
                            for artifact, intervals, live, alone in entries]
    except (ValueError, TypeError, IndexError, KeyError):
        return None


@dataclass(frozen=True, slots=True)
class Computed:
    """A model's rows: the ranking and its artifacts' pairs by site."""

    sites: ModelSites
    items: dict[str, SitePairs]  # site -> (artifact id, pair), by artifact id


def _pair_level(pair: Pair) -> float | None:
    levels = [t for r in (*pair.intervals, *(() if pair.alone is None else (pair.alone,)))
              if (t := term_log2(r)) is not None]
    return max(levels, default=None)


def compute_model_sites(
    store: GraphStore, model_ids: Sequence[str], at_us: int,
    fresh: Mapping[str, ItemReplicas] | None = None,
) -> dict[str, Computed]:
    """The rows of ``model_ids`` (those with an artifact) as of ``at_us``: the artifacts
    (``artifact_of`` in), their replicas rows from ``fresh``, else the stored rows that
    hold at ``at_us``, else computed here."""
    asked = sorted(set(model_ids))
    if not asked:
        return {}
    artifacts_of = store.neighbour_ids(ARTIFACT_OF, asked, Direction.IN)
    items = sorted({a for m in asked for a in artifacts_of.get(m, ())})
    rows: dict[str, ItemReplicas] = {i: fresh[i] for i in items if fresh and i in fresh}
    wanted = [i for i in items if i not in rows]
    if wanted:
        for item, text in store.get_read_models(REPLICAS, wanted).items():
            row = ItemReplicas.decode(item, text)
            if row is not None and row.holds_at(at_us):
                rows[item] = row
    missing = [i for i in items if i not in rows]
    if missing:
        rows.update(compute_replicas(store, missing, at_us))
    computed: dict[str, Computed] = {}
    for model_id in asked:
        artifacts = artifacts_of.get(model_id, [])
        if not artifacts:
            continue
        levels: dict[str, list[float]] = {}
        by_site: dict[str, SitePairs] = {}
        until: int | None = None
        live: int | None = None
        for artifact in artifacts:
            row = rows.get(artifact)
            if row is None:
                continue
            if row.valid_until_us is not None:
                until = row.valid_until_us if until is None else min(until, row.valid_until_us)
            for pair in row.pairs:
                by_site.setdefault(pair.site_id, []).append((artifact, pair))
                level = _pair_level(pair)
                site_levels = levels.setdefault(pair.site_id, [])
                if level is not None:
                    site_levels.append(level)
                if pair.live is not None and pair.live[0] is not None:
                    live = pair.live[0] if live is None else max(live, pair.live[0])
        ranked = [(site, log2_sum(found)) for site, found in levels.items()]
        ranked.sort(key=lambda s: (s[1] is None, -(s[1] or 0.0), s[0]))
        computed[model_id] = Computed(
            ModelSites(model_id, at_us, until, live, tuple(ranked)),
            {site: sorted(dict(found).items()) for site, found in by_site.items()})
    return computed


class ModelSitesMaintainer:
    """Recomputes models' rows at ``clock()`` (the store's now) and writes them."""

    CHUNK = 500  # models per computation in a rebuild
    PAGE = 5000

    def __init__(self, store: GraphStore, clock: Callable[[], int]) -> None:
        self.store = store
        self.clock = clock

    def touched(self, upserts: Iterable[object]) -> set[str]:
        """The models whose rows a written batch changes: those of the artifacts with a
        ``cached_at`` write, and both ends' models of an ``artifact_of`` write (one read)."""
        if not KEPT:
            return set()
        models: set[str] = set()
        artifacts: set[str] = set()
        for u in upserts:
            if isinstance(u, EdgeUpsert):
                if u.type == ARTIFACT_OF:
                    models.add(u.to_id)
                    artifacts.add(u.from_id)
                elif u.type == CACHED_AT and u.from_id.startswith("artifact:"):
                    artifacts.add(u.from_id)
        if artifacts:
            for found in self.store.neighbour_ids(ARTIFACT_OF, sorted(artifacts),
                                                  Direction.OUT).values():
                models.update(found)
        return models

    def invalidate(self, model_ids: Iterable[str]) -> None:
        """Delete the ranking rows of ``model_ids`` (queries read those models whole
        until they are recomputed)."""
        asked = sorted(set(model_ids))
        if asked and KEPT:
            self.store.put_read_models(MODEL_SITES, dict.fromkeys(asked))

    def forget_all(self) -> None:
        """Delete every ranking row (modelHotness reads every model whole until the
        models are recomputed or rebuilt)."""
        if KEPT:
            self.invalidate(self.store.get_read_models(MODEL_SITES))

    def compute(self, model_ids: Sequence[str],
                fresh: Mapping[str, ItemReplicas] | None = None) -> dict[str, Computed]:
        if not model_ids or not KEPT:
            return {}
        return compute_model_sites(self.store, model_ids, self.clock(), fresh)

    def store_rows(self, model_ids: Sequence[str], computed: Mapping[str, Computed]) -> None:
        """Write the rows of ``model_ids``: the artifacts by site first, then the ranking
        (a model without artifacts loses its ranking row)."""
        if not model_ids:
            return
        items = {site_key(m, site): encode_site_pairs(computed[m].sites.computed_at_us, found)
                 for m in model_ids if m in computed
                 for site, found in computed[m].items.items()}
        if items:
            self.store.put_read_models(MODEL_SITE_ITEMS, items)
        self.store.put_read_models(MODEL_SITES, {
            m: computed[m].sites.encode() if m in computed else None for m in model_ids})

    def refresh(self, model_ids: Iterable[str]) -> None:
        asked = sorted(set(model_ids))
        self.store_rows(asked, self.compute(asked))

    def model_ids(self) -> list[str]:
        """Every model node, and every model with a ranking row."""
        found: set[str] = set(self.store.get_read_models(MODEL_SITES))
        found.update(self.store.node_ids("model", self.PAGE))
        return sorted(found)

    def rebuild(self) -> int:
        """Recompute the rows of every model; returns the number of models."""
        if not KEPT:
            return 0
        models = self.model_ids()
        for i in range(0, len(models), self.CHUNK):
            self.refresh(models[i : i + self.CHUNK])
        return len(models)
