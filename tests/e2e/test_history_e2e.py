"""Audit-grade history through the whole pipeline, on both backends (issue 13).

A dataset replicated and evicted 90 days ago, and a model's weights left idle past
the 30-day TTL of ``cached_at``: both are gone from the live namespace, yet
dataResidency and lineage over a year find them (from history), and modelHotness
leaves the idle replica out once it expired. The expected intervals are worked
out from the events by ``expected_intervals`` below, plain Python written from
docs/queries.md ("Horizons and history"), not from the product's code.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.stages.dedup import DedupBuffer
from fleetgraph.schemas import load_event_codec
from fleetgraph.serving.queries import model_hotness
from fleetgraph.serving.queries.lineage import lineage
from fleetgraph.serving.queries.residency import data_residency
from fleetgraph.simulator.events import artifact_event
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

DAY = 24 * 3600 * 1_000_000
TTL = 30 * DAY
NOW = time.time_ns() // 1000
YEAR = TimeWindow(NOW - 365 * DAY, NOW)
D1, A1, M1 = "dataset:d1", "artifact:a1", "model:m1"


def events() -> list[dict[str, Any]]:
    t0 = NOW - 100 * DAY
    made = [
        artifact_event("h-1", t0, "registered", D1),
        artifact_event("h-2", t0 + 1, "registered", M1),
        artifact_event("h-3", t0 + 2, "registered", A1, artifact_kind="weights",
                       model_id=M1, derived_from=[D1]),
        # replicated and evicted 90 days ago
        artifact_event("h-4", NOW - 90 * DAY, "replicated", D1, site_id="site:s1", tier=1),
        artifact_event("h-5", NOW - 89 * DAY, "evicted", D1, site_id="site:s1"),
        # replicated, used once, then idle past the TTL
        artifact_event("h-6", NOW - 40 * DAY, "replicated", A1, site_id="site:s2", tier=0),
        artifact_event("h-7", NOW - 38 * DAY, "accessed", A1, site_id="site:s2", hits=5),
        # an access without a replication
        artifact_event("h-8", NOW - 2 * DAY, "accessed", A1, site_id="site:s3", hits=1),
    ]
    return [e.event for e in made]


def expected_intervals(
    evs: list[dict[str, Any]], now: int
) -> dict[tuple[str, str], list[tuple[int | None, int | None]]]:
    """Per (item, site): [start, end) of each stay, from the events alone. A replication
    or, with nothing held, an access starts one; an eviction ends it (with nothing
    held: unknown start); a stay not refreshed for the TTL ends at last event + TTL."""
    stays: dict[tuple[str, str], list[list[int | None]]] = {}
    last: dict[tuple[str, str], int] = {}
    for ev in sorted(evs, key=lambda e: e["event_time"]):
        if ev["kind"] == "registered":
            continue
        key, t = (ev["artifact_id"], ev["site_id"]), ev["event_time"]
        pair = stays.setdefault(key, [])
        held = bool(pair) and pair[-1][1] is None and t < last[key] + TTL
        if pair and pair[-1][1] is None and not held:
            pair[-1][1] = last[key] + TTL
        if ev["kind"] == "evicted":
            if held:
                pair[-1][1] = t
            else:
                pair.append([pair[-1][1] if pair else None, t])
        elif not held:
            pair.append([t, None])
        last[key] = t
    for key, pair in stays.items():
        if pair[-1][1] is None and last[key] + TTL <= now:
            pair[-1][1] = last[key] + TTL
    return {key: [(s, e) for s, e in pair] for key, pair in stays.items()}


@pytest.fixture
def history(store: GraphStore) -> GraphStore:
    codec = load_event_codec()
    messages = [Message("artifacts", codec.encode("artifacts", ev), f"h:{i}")
                for i, ev in enumerate(events())]
    dead = DeadLetterList()
    pipeline = Pipeline(FLEET, codec, StoreSink(store), dead)
    report = run_embedded(pipeline, lambda: messages)
    assert report.stats.accepted == len(messages), dead
    return store


def test_residency_and_lineage_over_a_year_find_expired_replicas(history: GraphStore) -> None:
    expected = expected_intervals(events(), NOW)
    assert expected[(D1, "site:s1")] == [(NOW - 90 * DAY, NOW - 89 * DAY)]
    assert expected[(A1, "site:s2")] == [(NOW - 40 * DAY, NOW - 38 * DAY + TTL)]
    # the live namespace has forgotten both (the access without replication is live)
    live = history.neighbours("cached_at", [D1, A1], Direction.OUT)
    assert [(e.from_id, e.to_id) for edges in live.values() for e in edges] == [(A1, "site:s3")]
    for window in (YEAR, TimeWindow()):
        answer = data_residency(history, D1, ["eu"], window=window)
        assert answer.items == [A1, D1]
        held = {(p.item_id, p.site_id): [(p.held_from, p.held_to)]
                for p in answer.places if p.held}
        assert held == {k: v for k, v in expected.items() if window.overlaps(*v[0])}
    old = data_residency(history, D1, [], window=TimeWindow(NOW - 95 * DAY, NOW - 85 * DAY))
    assert [(p.item_id, p.site_id) for p in old.places] == [(D1, "site:s1")]
    down = lineage(history, D1, "DOWN", at_us=NOW)
    assert [n.id for n in down.nodes] == [D1, A1]
    up = lineage(history, A1, "UP", at_us=NOW - 39 * DAY)
    assert {n.id for n in up.nodes} == {A1, D1, M1}


def test_hotness_leaves_the_idle_replica_out_after_its_expiry(history: GraphStore) -> None:
    expected = expected_intervals(events(), NOW)
    [(_, expiry)] = expected[(A1, "site:s2")]
    assert expiry is not None
    before = model_hotness(history, M1, TimeWindow(expiry - 2 * DAY, expiry - DAY))
    age = (expiry - DAY) - (NOW - 38 * DAY)  # from the last access to the window's end
    assert [(s.site_id, s.score) for s in before] == [
        ("site:s2", pytest.approx(1.0 * 0.5 ** (age / (6 * 3600 * 1_000_000)) * (1 + math.log2(6))))
    ]
    assert model_hotness(history, M1, TimeWindow(expiry, NOW - 3 * DAY)) == []
    # the access without a replication counts from the access on, not before
    [(start, _)] = expected[(A1, "site:s3")]
    assert start == NOW - 2 * DAY
    after = model_hotness(history, M1, TimeWindow(start - DAY, NOW))
    assert [(s.site_id, s.replicas[0].tier, s.replicas[0].hits) for s in after] == [
        ("site:s3", None, 1)
    ]


@pytest.mark.parametrize("seed", range(8))
def test_random_replica_histories_match_the_independent_reading(
    store: GraphStore, seed: int
) -> None:
    """Replications, accesses and evictions in any order, days apart (some gaps past
    the TTL): the store's intervals over all time are those of ``expected_intervals``,
    and a window finds exactly the pairs whose intervals overlap it."""
    rng = random.Random(seed)
    evs, t = [], NOW - 200 * DAY
    for i in range(40):
        t += rng.choice([1, 3, 10, 35]) * DAY + rng.randrange(1, 3_600_000_000)
        if t >= NOW:
            break
        kind = rng.choice(["replicated", "accessed", "evicted"])
        item = rng.choice([D1, A1])
        extra: dict[str, Any] = {"tier": rng.randrange(3)} if kind == "replicated" else {}
        if kind == "accessed":
            extra["hits"] = i
        evs.append(artifact_event(f"r-{seed}-{i}", t, kind, item, site_id="site:s1",
                                  **extra).event)
    codec = load_event_codec()
    messages = [Message("artifacts", codec.encode("artifacts", ev), f"r:{i}")
                for i, ev in enumerate(evs)]
    # no dedup window: dedup merges consecutive updates of one edge (as the live store
    # would), which in a stream this sparse would fold events days apart into one write
    pipeline = Pipeline(FLEET, codec, StoreSink(store), DeadLetterList(),
                        dedup=DedupBuffer(window_us=0))
    run_embedded(pipeline, lambda: messages)
    expected = expected_intervals(evs, NOW)
    everything = TimeWindow(None, NOW + 1)
    got = store.neighbours("cached_at", [D1, A1], Direction.OUT, everything)
    for item in (D1, A1):
        spans = [(e.props.get("valid_from"), e.props.get("valid_to")) for e in got[item]]
        assert spans == expected.get((item, "site:s1"), []), item
    for _ in range(10):  # any window: the intervals (as known now) that overlap it
        start = NOW - rng.randrange(0, 200) * DAY
        window = TimeWindow(start, rng.choice([start + rng.choice([1, 5, 40]) * DAY, None]))
        found = store.neighbours("cached_at", [D1, A1], Direction.OUT, window)
        for item in (D1, A1):
            spans = [(e.props.get("valid_from"), e.props.get("valid_to")) for e in found[item]]
            assert spans == [stay for stay in expected.get((item, "site:s1"), [])
                             if window.overlaps(*stay)], (item, window)
