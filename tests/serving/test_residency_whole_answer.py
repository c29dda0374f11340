"""dataResidency's whole answer (no window) from the ``residency`` read model equals the
walk's (the reference: the same query with the rows hidden), on random data worlds
whose replicas are replicated, accessed and evicted over three months and pass the
live TTL, at several times after the rows' computation (while they hold and after the
first live replica's expiry, when the query must walk); the held spans also equal
those folded here from the store's own ``cached_at`` intervals. Rows the query must not
read (another format, a chunk missing or of another computation, a lineage past the
limit, a start that is no dataset) make it walk, with the same answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.ingest.read_models.residency import (
    RESIDENCY,
    RESIDENCY_PLACES,
    ResidencyMaintainer,
    chunk_key,
    decoded_header,
    item_chunk_key,
)
from fleetgraph.serving.context import new_context
from fleetgraph.serving.queries import residency_rows
from fleetgraph.serving.queries.residency import data_residency
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.serving.conftest import SCHEMA
from tests.serving.test_replicas_read_model import Clock
from tests.serving.test_residency_read_model import Hidden, Walking
from tests.serving.test_residency_summary import DAY, FULL, NOW, world

ALLOWED = (["de"], ["de", "fr", "us"], [])


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def store(clock: Clock) -> Iterator[GraphStore]:
    made = SQLiteGraphStore(FLEET, ":memory:", clock=clock)
    yield made
    made.close()


def spans_from_the_store(store: GraphStore, items: list[str]
                         ) -> dict[tuple[str, str], tuple[Any, Any]]:
    """(item, site) -> (the earliest start, None first; the latest end, None last) of
    the store's own intervals over all time."""
    spans: dict[tuple[str, str], tuple[Any, Any]] = {}
    read = store.neighbours("cached_at", items, Direction.OUT, TimeWindow())
    for item, edges in read.items():
        for e in edges:
            start, end = e.props.get(VALID_FROM), e.props.get(VALID_TO)
            if (item, e.to_id) in spans:
                first, last = spans[item, e.to_id]
                start = None if None in (start, first) else min(start, first)
                end = None if None in (end, last) else max(end, last)
            spans[item, e.to_id] = (start, end)
    return spans


def check_whole(store: GraphStore, datasets: list[str], now: int) -> set[str]:
    """Every dataset's whole answer equals the walk's and its spans the store's; returns
    the datasets the rows answered (no walk)."""
    answered = set()
    for dataset in datasets:
        for allowed in ALLOWED:
            walking = Walking(store)
            got = data_residency(walking, dataset, allowed, now_us=now)
            expected = data_residency(Hidden(store), dataset, allowed, now_us=now)
            assert got == expected, (dataset, allowed, now)
            spans = spans_from_the_store(store, got.items)
            assert {(p.item_id, p.site_id): (p.held_from, p.held_to)
                    for p in got.places if p.held} == spans
            assert not any(p.held_from or p.held_to for p in got.places if not p.held)
            if walking.walks == 0:
                answered.add(dataset)
    return answered


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_whole_answer_from_the_rows_is_the_walks(store: GraphStore, clock: Clock,
                                                     seed: int) -> None:
    datasets = world(store, seed)
    assert ResidencyMaintainer(store, clock).rebuild() == len(datasets)
    headers = {d: decoded_header(d, t) for d, t in store.get_read_models(RESIDENCY).items()}
    assert set(headers) == set(datasets)
    assert sum(len(data_residency(store, d, []).places) for d in datasets) > 20
    until = min((h.valid_until_us for h in headers.values()
                 if h is not None and h.valid_until_us is not None), default=None)
    assert until is not None, "some replica is live: the rows expire"
    assert check_whole(store, datasets, NOW) == set(datasets)
    clock.now = until - 1  # the last moment every row holds
    assert check_whole(store, datasets, clock.now) == set(datasets)
    clock.now = until + DAY  # a live replica expired since: its dataset's row no longer holds
    assert check_whole(store, datasets, clock.now) < set(datasets)
    clock.now = NOW - 1  # before the rows' computation: walk
    assert check_whole(store, datasets, clock.now) == set()


def test_rows_the_query_must_not_read_make_it_walk(store: GraphStore, clock: Clock) -> None:
    datasets = world(store, 2)
    ResidencyMaintainer(store, clock).rebuild()
    dataset = max(datasets, key=lambda d: len(data_residency(store, d, []).items))
    expected = data_residency(Hidden(store), dataset, ["de"], now_us=NOW)
    assert len(expected.items) > 2 and expected.places

    def walks(limit: int = 100_000) -> bool:
        residency_rows.PLACES.clear()  # what the process decoded before is not read
        residency_rows.ITEMS.clear()
        walking = Walking(store)
        got = data_residency(walking, dataset, ["de"], limit=limit, now_us=NOW)
        assert got == data_residency(Hidden(store), dataset, ["de"], limit=limit, now_us=NOW)
        return walking.walks > 0

    assert not walks()
    assert walks(limit=2)  # past the limit: the walk cuts it (truncated)
    # a chunk of another computation, then one missing
    first = chunk_key(dataset, 0)
    text = store.get_read_models(RESIDENCY_PLACES, [first])[first]
    _, places = json.loads(text)
    store.put_read_models(RESIDENCY_PLACES, {first: json.dumps(["other", places])})
    assert walks()
    store.put_read_models(RESIDENCY_PLACES, {first: None})
    assert walks()
    store.put_read_models(RESIDENCY_PLACES, {first: text})
    items = item_chunk_key(dataset, 0)
    items_text = store.get_read_models(RESIDENCY_PLACES, [items])[items]
    store.put_read_models(RESIDENCY_PLACES, {items: None})
    assert walks()
    store.put_read_models(RESIDENCY_PLACES, {items: items_text})
    assert not walks()
    # a chunk decoded before is not read again (its key and generation fix its content)
    data_residency(store, dataset, ["de"], now_us=NOW)
    store.put_read_models(RESIDENCY_PLACES, {first: None})
    walking = Walking(store)
    assert data_residency(walking, dataset, ["de"], now_us=NOW) == expected
    assert walking.walks == 0
    store.put_read_models(RESIDENCY_PLACES, {first: text})
    # a header of format 1 (without spans and items) is no header
    header = store.get_read_models(RESIDENCY, [dataset])[dataset]
    _, *fields = json.loads(header)
    store.put_read_models(RESIDENCY, {dataset: json.dumps([1, *fields[:-1]])})
    assert walks()
    store.put_read_models(RESIDENCY, {dataset: header})
    assert not walks()


def test_a_model_or_artifact_start_walks(store: GraphStore, clock: Clock) -> None:
    datasets = world(store, 1)
    ResidencyMaintainer(store, clock).rebuild()
    artifact = next(i for d in datasets for i in data_residency(store, d, []).items
                    if i.startswith("artifact:"))
    walking = Walking(store)
    got = data_residency(walking, artifact, ["de"], now_us=NOW)
    assert walking.walks > 0
    assert got == data_residency(Hidden(store), artifact, ["de"], now_us=NOW)


def graphql(store: GraphStore, variables: dict[str, Any]) -> dict[str, Any]:
    """dataResidency through GraphQL, with the context's clock at NOW."""
    async def run() -> Any:
        return await SCHEMA.execute(FULL, variables,
                                    context_value=new_context(store, clock=lambda: NOW))

    result = asyncio.run(run())
    assert result.errors is None, result.errors
    data: dict[str, Any] = result.data
    return data


def test_graphql_whole_answer_from_the_rows(store: GraphStore, clock: Clock) -> None:
    datasets = world(store, 3)
    ResidencyMaintainer(store, clock).rebuild()
    held = 0
    for dataset in datasets:
        for allowed in ALLOWED:
            walking = Walking(store)
            got = graphql(walking, {"id": dataset, "allowed": allowed})
            assert walking.walks == 0
            assert got == graphql(Hidden(store), {"id": dataset, "allowed": allowed})
            held += sum(1 for p in got["dataResidency"]["places"] if p["heldFrom"])
    assert held > 0
