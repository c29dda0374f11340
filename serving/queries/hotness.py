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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.core.units import HOUR_US
from fleetgraph.graph_model.intervals import overlaps
from fleetgraph.ingest.read_models.replicas import Replica, replicas_within
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.lookup import type_of
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

HALF_LIFE_US = 6 * HOUR_US
TIER_WEIGHT: dict[int, float] = {0: 1.0, 1: 0.5, 2: 0.1}  # hot, warm, durable


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
    replicas as the head of the whole ranking: every replica is still read and scored).
    ``now_us`` (default the wall clock) is the instant the read-model rows must hold at:
    the store's now."""
    if first is not None and first < 1:
        raise InvalidArgument(f"'first' must be at least 1, got {first}")
    if window.end is None:
        raise InvalidArgument("modelHotness needs a window end (the age is measured from it)")
    if type_of(model_id) != "model":
        raise InvalidArgument(f"{model_id!r} is not a model id (model:<name>)")
    found, artifacts_of = store.together(
        lambda: store.get_nodes([model_id]),
        lambda: store.neighbour_ids("artifact_of", [model_id], Direction.IN))
    artifacts = artifacts_of[model_id]
    if not found and not artifacts:
        raise NotFound(f"no model {model_id!r} in the graph")
    if not artifacts:
        return []
    now = wall_clock_us() if now_us is None else now_us
    replicas = replicas_within(store, artifacts, window, now)
    by_site: dict[str, list[ReplicaEvidence]] = {}
    query = window.interval
    end = window.end
    for artifact_id in artifacts:
        latest: dict[str, Replica] = {}  # by site: the pair's latest interval
        for replica in replicas[artifact_id]:
            if overlaps((replica.start, replica.end), query) and _evidenced(replica):
                latest[replica.site_id] = replica  # a pair's intervals come by start
        for site, replica in latest.items():
            props = replica.props
            tier, last_access, hits = props.get("tier"), props.get("last_access"), props.get(
                "hits")
            reference = last_access if last_access is not None else replica.start
            score = replica_score(tier, reference, hits, end)
            held = by_site.get(site)
            evidence = ReplicaEvidence(artifact_id, tier, last_access, hits, score)
            if held is None:
                by_site[site] = [evidence]
            else:
                held.append(evidence)
    ranked = [
        SiteHotness(site, math.fsum(r.score for r in found_replicas), _by_artifact(found_replicas))
        for site, found_replicas in by_site.items()
    ]
    ranked.sort(key=lambda s: (-s.score, s.site_id))
    return ranked if first is None else ranked[:first]


def _evidenced(replica: Replica) -> bool:
    """The replica was there at a known time: it has a start or an access."""
    return replica.start is not None or replica.props.get("last_access") is not None


def _by_artifact(replicas: list[ReplicaEvidence]) -> list[ReplicaEvidence]:
    return sorted(replicas, key=lambda r: r.artifact_id)
