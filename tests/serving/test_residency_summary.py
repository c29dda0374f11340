"""dataResidencySummary (the bounded form) against the full dataResidency answer, the
reference: on random data worlds (lineage chains, jobs with and without a site,
replicas replicated, accessed and evicted over three months, past the live TTL; sites
with and without a jurisdiction), every page walked with its cursor gives the full
answer's places (or violations), and the counts and per-jurisdiction figures are the
full answer's counted by hand."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.residency import (
    Place,
    Residency,
    data_residency,
    residency_summary,
)
from fleetgraph.storage.base import GraphStore, TimeWindow
from fleetgraph.storage.embedded import SQLiteGraphStore

T = 1_795_219_200_000_000  # 2026-11-21 00:00 UTC
H = 3_600_000_000
DAY = 24 * H
NOW = T + 100 * DAY
JURISDICTIONS = ["de", "fr", "us", None]


def world(store: GraphStore, seed: int) -> list[str]:
    """A random data world; its datasets."""
    rng = random.Random(seed)
    n = 0

    def prov(t: int) -> Provenance:
        nonlocal n
        n += 1
        return Provenance(f"ev{n}", f"artifacts/0/{n}", t, "summary-test")

    sites = [f"site:s{i}" for i in range(8)]
    nodes = [NodeUpsert("site", s, {} if (j := rng.choice(JURISDICTIONS)) is None
                        else {"jurisdiction": j}, T, prov(T)) for s in sites]
    datasets = [f"dataset:d{i}" for i in range(3)]
    items = list(datasets)
    nodes += [NodeUpsert("dataset", d, {}, T, prov(T)) for d in datasets]
    edges = []
    for j in range(60):
        t = T + rng.randint(0, 90) * DAY
        job = f"job:j{j}"
        placed = {"site_id": rng.choice(sites)} if rng.random() < 0.8 else {}
        nodes.append(NodeUpsert("job", job, placed, t, prov(t)))
        for item in rng.sample(items, min(len(items), rng.randint(1, 2))):
            edges.append(EdgeUpsert("read", job, item, {"at": t}, t, prov(t)))
        for k in range(rng.randint(0, 2)):
            made = f"artifact:a{j}-{k}"
            items.append(made)
            edges.append(EdgeUpsert("produced", job, made, {"at": t}, t, prov(t)))
            if rng.random() < 0.5:
                source = rng.choice(items[:-1])
                edges.append(EdgeUpsert("derived_from", made, source, {}, t, prov(t)))
    for _ in range(250):
        item, site = rng.choice(items), rng.choice(sites)
        t = T + rng.randint(0, 99 * 24) * H
        props: dict[str, Any] = rng.choice([
            {"valid_from": t, "tier": rng.randint(0, 2)},
            {"last_access": t, "hits": rng.randint(0, 5)},
            {"valid_to": t},
        ])
        edges.append(EdgeUpsert("cached_at", item, site, props, t, prov(t)))
    store.upsert_nodes(nodes)
    store.upsert_edges(edges)
    return datasets


@pytest.fixture
def store() -> Iterator[GraphStore]:
    made = SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW)
    yield made
    made.close()


def all_pages(store: GraphStore, dataset: str, allowed: list[str], first: int,
              violations_only: bool, window: TimeWindow | None) -> list[Place]:
    found: list[Place] = []
    after = None
    for _ in range(1000):
        summary = residency_summary(store, dataset, allowed, first, after, violations_only,
                                    window=window)
        assert len(summary.page) <= first
        found += summary.page
        after = summary.next_after
        if after is None:
            return found
    raise AssertionError("the pages never end")


def by_jurisdiction(full: Residency, allowed: list[str]) -> list[tuple[Any, ...]]:
    """The per-jurisdiction figures counted from the full answer, by hand."""
    names = sorted({p.jurisdiction for p in full.places}, key=lambda j: (j is None, j or ""))
    rows = []
    for name in names:
        here = [p for p in full.places if p.jurisdiction == name]
        rows.append((name, name in allowed, len({p.site_id for p in here}),
                     len({p.item_id for p in here}), len(here),
                     sum(1 for p in here if p.jobs), sum(1 for p in here if p.held)))
    return rows


@pytest.mark.parametrize("seed", [1, 2])
def test_pages_and_totals_are_the_full_answers(store: GraphStore, seed: int) -> None:
    datasets = world(store, seed)
    windows = [None, TimeWindow(T + 30 * DAY, T + 60 * DAY), TimeWindow(T + 80 * DAY, None)]
    checked = 0
    for dataset in datasets:
        for window in windows:
            for allowed in (["de"], ["de", "fr", "us"]):
                full = data_residency(store, dataset, allowed, window=window)
                summary = residency_summary(store, dataset, allowed, 3, window=window)
                assert summary.item_count == len(full.items)
                assert summary.place_count == len(full.places)
                assert summary.violation_count == len(full.violations)
                assert summary.truncated == full.truncated
                assert [(j.jurisdiction, j.allowed, j.sites, j.items, j.places, j.processed,
                         j.held) for j in summary.jurisdictions] == by_jurisdiction(full, allowed)
                for first in (2, 1000):
                    assert all_pages(store, dataset, allowed, first, True, window) == (
                        full.violations)
                    assert all_pages(store, dataset, allowed, first, False, window) == (
                        full.places)
                checked += len(full.places)
    assert checked > 0


def test_arguments(store: GraphStore) -> None:
    [dataset, *_] = world(store, 1)
    with pytest.raises(InvalidArgument, match="'first'"):
        residency_summary(store, dataset, ["de"], first=0)
    with pytest.raises(InvalidArgument, match="'first'"):
        residency_summary(store, dataset, ["de"], first=1001)
    with pytest.raises(InvalidArgument, match="not a cursor"):
        residency_summary(store, dataset, ["de"], after="nonsense")
    with pytest.raises(NotFound, match="dataset:nope"):
        residency_summary(store, "dataset:nope", ["de"])
    with pytest.raises(InvalidArgument, match="not a dataset"):
        residency_summary(store, "site:s1", ["de"])


SUMMARY = """query($id: ID!, $allowed: [String!]!, $first: Int!, $after: String,
                  $only: Boolean!) {
  dataResidencySummary(datasetId: $id, allowed: $allowed, first: $first, after: $after,
                       violationsOnly: $only) {
    datasetId itemCount placeCount violationCount truncated nextAfter
    jurisdictions { jurisdiction allowed siteCount itemCount placeCount processedCount
                    heldCount }
    places { itemId siteId jurisdiction jobIds held heldFrom heldTo } } }"""
FULL = """query($id: ID!, $allowed: [String!]!) {
  dataResidency(datasetId: $id, allowed: $allowed) {
    itemIds places { itemId siteId jurisdiction jobIds held heldFrom heldTo }
    violations { itemId siteId jurisdiction jobIds held heldFrom heldTo } } }"""


def test_graphql_pages_are_the_full_answers(store: GraphStore, gql_on: Any) -> None:
    datasets = world(store, 2)
    run = gql_on(store)
    for dataset in datasets:
        full = run(FULL, {"id": dataset, "allowed": ["de"]})["dataResidency"]
        for only, expected in ((True, full["violations"]), (False, full["places"])):
            pages: list[dict[str, Any]] = []
            after = None
            while True:
                got = run(SUMMARY, {"id": dataset, "allowed": ["de"], "first": 3,
                                    "after": after, "only": only})["dataResidencySummary"]
                assert got["itemCount"] == len(full["itemIds"])
                assert got["placeCount"] == len(full["places"])
                assert got["violationCount"] == len(full["violations"])
                assert sum(j["placeCount"] for j in got["jurisdictions"]) == len(full["places"])
                pages += got["places"]
                after = got["nextAfter"]
                if after is None:
                    break
            assert pages == expected
    errors = run.errors(SUMMARY, {"id": datasets[0], "allowed": [], "first": 0,
                                  "after": None, "only": True})
    assert any("'first'" in e for e in errors)
