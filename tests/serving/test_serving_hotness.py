"""modelHotness on the small fleet (see conftest.py), scores from the formula inline."""

from __future__ import annotations

import math

import pytest

from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries import ReplicaEvidence, model_hotness
from fleetgraph.storage.base import TimeWindow

A1, A2 = "artifact:sha256-a1", "artifact:sha256-a2"


def score(tier_weight: float, age_hours: float, hits: int) -> float:
    return tier_weight * 0.5 ** (age_hours / 6) * (1 + math.log2(1 + hits))


def test_sites_ranked_by_replica_scores(fleet: CountingStore, timeline) -> None:
    t = timeline.us
    ranked = model_hotness(fleet, "model:m1", TimeWindow(t(0), t(24)))
    # a1@s1: tier 0, accessed 4 h before the end, 15 hits; a2@s1: tier 1, never
    # accessed, replicated 22 h before the end; a1@s2 and a1@s3: tier 2, 1 h, 3 hits
    # (tie: by site id); a2@s2 was evicted before the window, a3 is another model's.
    a1_s1, a2_s1, a1_s2 = score(1.0, 4, 15), score(0.5, 22, 0), score(0.1, 1, 3)
    assert [(s.site_id, pytest.approx(s.score)) for s in ranked] == [
        ("site:s1", a1_s1 + a2_s1),
        ("site:s2", a1_s2),
        ("site:s3", a1_s2),
    ]
    assert ranked[0].replicas == [
        ReplicaEvidence(A1, 0, t(20), 15, pytest.approx(a1_s1)),
        ReplicaEvidence(A2, 1, None, None, pytest.approx(a2_s1)),
    ]
    assert ranked[1].replicas == [ReplicaEvidence(A1, 2, t(23), 3, pytest.approx(a1_s2))]


def test_age_is_measured_from_the_window_end_and_never_negative(
    fleet: CountingStore, timeline
) -> None:
    t = timeline.us
    ranked = model_hotness(fleet, "model:m1", TimeWindow(t(21), t(22)))
    by_site = {s.site_id: s for s in ranked}
    # a1@s1 last accessed 2 h before the end; a1@s2 accessed after it: age 0
    assert by_site["site:s1"].replicas[0].score == pytest.approx(score(1.0, 2, 15))
    assert by_site["site:s2"].score == pytest.approx(score(0.1, 0, 3))


def test_an_evicted_replica_counts_while_the_window_overlaps_it(
    fleet: CountingStore, timeline
) -> None:
    t = timeline.us
    ranked = model_hotness(fleet, "model:m1", TimeWindow(t(-26), t(-24)))
    # only a2@s2 [-30h, -20h) was there; last access -25h, 1 h before the end
    assert [(s.site_id, pytest.approx(s.score)) for s in ranked] == [
        ("site:s2", score(1.0, 1, 0)),
    ]


def test_errors(fleet: CountingStore, timeline) -> None:
    with pytest.raises(NotFound, match="model:nope"):
        model_hotness(fleet, "model:nope", TimeWindow(None, timeline.now))
    with pytest.raises(InvalidArgument, match="not a model id"):
        model_hotness(fleet, "site:s1", TimeWindow(None, timeline.now))
    with pytest.raises(InvalidArgument, match="window end"):
        model_hotness(fleet, "model:m1", TimeWindow())


def test_graphql_defaults_to_the_last_24_hours(gql, timeline) -> None:
    data = gql(
        """{ modelHotness(modelId: "model:m1") {
              siteId score site { name region }
              replicas { artifactId tier lastAccess hits score artifact { id kind } }
           } }"""
    )["modelHotness"]
    assert [s["siteId"] for s in data] == ["site:s1", "site:s2", "site:s3"]
    s1 = data[0]
    assert s1["site"] == {"name": "s1", "region": "west"}
    assert s1["score"] == pytest.approx(score(1.0, 4, 15) + score(0.5, 22, 0))
    assert s1["replicas"][0] == {
        "artifactId": A1,
        "tier": 0,
        "lastAccess": timeline.iso(20),
        "hits": 15,
        "score": pytest.approx(score(1.0, 4, 15)),
        "artifact": {"id": A1, "kind": "weights"},
    }
    assert s1["replicas"][1]["lastAccess"] is None


def test_graphql_window(gql, timeline) -> None:
    data = gql(
        "query ($w: WindowInput) { modelHotness(modelId: \"model:m1\", window: $w) "
        "{ siteId score } }",
        {"w": {"from": timeline.iso(-26), "to": timeline.iso(-24)}},
    )["modelHotness"]
    assert data == [{"siteId": "site:s2", "score": pytest.approx(score(1.0, 1, 0))}]
    # only 'to': from = to - 24h, which still reaches back to the evicted replica
    data = gql(
        "query ($w: WindowInput) { modelHotness(modelId: \"model:m1\", window: $w) "
        "{ siteId } }",
        {"w": {"to": timeline.iso(-1)}},
    )["modelHotness"]
    assert [s["siteId"] for s in data] == ["site:s2"]


def test_graphql_unknown_model(gql) -> None:
    assert gql.errors('{ modelHotness(modelId: "model:nope") { siteId } }') == [
        "no model 'model:nope' in the graph"
    ]


def test_first_keeps_the_head_of_the_ranking(fleet: CountingStore, timeline, gql) -> None:
    t = timeline.us
    window = TimeWindow(t(0), t(24))
    whole = model_hotness(fleet, "model:m1", window)
    assert [s.site_id for s in whole] == ["site:s1", "site:s2", "site:s3"]
    for first in (1, 2, 3, 10):
        assert model_hotness(fleet, "model:m1", window, first) == whole[:first]
    with pytest.raises(InvalidArgument, match="'first'"):
        model_hotness(fleet, "model:m1", window, 0)
    data = gql('{ modelHotness(modelId: "model:m1", first: 2) { siteId replicas { tier } } }')
    assert data["modelHotness"] == [
        {"siteId": "site:s1", "replicas": [{"tier": 0}, {"tier": 1}]},
        {"siteId": "site:s2", "replicas": [{"tier": 2}]},
    ]
