"""modelHotness and placement's model part read the read-model rows as of the store's now
(the GraphQL context's clock), not the wall clock.

A store on a clock two months behind the wall (a replay, the bench's kept fleet copied
into Cassandra): its rows hold until the live replicas' TTL, a month after their writes,
so at the wall clock they no longer hold. Asked through GraphQL at the store's now,
``modelHotness(first: 3)`` walks the ``model_sites`` rows (a few sites' rows read, not
the model's 40) and answers the head of the whole ranking computed without any read model
(:class:`~tests.serving.test_model_sites_read_model.Bare`); placement's whole model part
(``at`` given) takes every site's row (no ``cached_at`` read from the store).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.serving.context import new_context
from fleetgraph.serving.queries.hotness import model_hotness
from fleetgraph.serving.schema import build_schema
from fleetgraph.serving.times import to_datetime
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from tests.serving.test_model_sites_read_model import Bare, Counting, wide_model
from tests.serving.test_replicas_read_model import Clock, write_through_sink

H = 3_600_000_000
DAY = 24 * H
ARTIFACTS = 40
HOTNESS = """query($id: ID!, $from: DateTime, $to: DateTime) {
  modelHotness(modelId: $id, window: {from: $from, to: $to}, first: 3) { siteId score } }"""
PLACEMENT = """query($r: PlacementInput!) { placement(request: $r) {
  candidates(first: 10) { siteId parts { model } } excluded { siteId } } }"""


class StoreReads(Counting):
    """Also counts the ``cached_at`` edges read from the store."""

    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner)
        self.cached_at = 0

    def neighbours(self, edge_type: str, ids: Sequence[str], direction: Direction,
                   window: TimeWindow | None = None) -> dict[str, list[EdgeRecord]]:
        found = super().neighbours(edge_type, ids, direction, window)
        if edge_type == "cached_at":
            self.cached_at += sum(len(v) for v in found.values())
        return found


def ask(store: GraphStore, now: int, query: str, variables: dict[str, Any]) -> Any:
    result = asyncio.run(build_schema().execute(
        query, variable_values=variables, context_value=new_context(store, clock=lambda: now)))
    assert result.errors is None, result.errors
    return result.data


def check_at_the_stores_now(store: GraphStore, now: int) -> None:
    write_through_sink(store, wide_model(now, ARTIFACTS, 5, 3 * DAY), Clock(now), 0.0,
                       batch=20)
    window = TimeWindow(now - DAY, now)
    whole = model_hotness(Bare(store), "model:wide", window, None, now_us=now)
    counting = StoreReads(store)
    got = ask(counting, now, HOTNESS, {"id": "model:wide", "from": to_datetime(window.start)
                                       .isoformat(), "to": to_datetime(now).isoformat()})
    assert [(s["siteId"], s["score"]) for s in got["modelHotness"]] == [
        (s.site_id, s.score) for s in whole[:3]]
    assert counting.rankings == 1 and counting.sites < ARTIFACTS // 2, counting.sites
    assert counting.items == 0  # the sites' rows of pairs, no artifact's row
    assert counting.cached_at == 0  # every replica from the rows
    counting = StoreReads(store)
    placed = ask(counting, now, PLACEMENT, {"r": {  # 'at' given: the whole model part
        "gpus": 8, "modelId": "model:wide", "at": to_datetime(now).isoformat()}})
    assert placed["placement"]["candidates"] == []  # no site node: only the model part read
    assert counting.sites == ARTIFACTS and counting.cached_at == 0  # the rows, not the store


def two_months_ago() -> int:
    return (wall_clock_us() - 60 * DAY) // H * H


def test_rows_read_at_the_stores_now_embedded() -> None:
    from fleetgraph.graph_model import FLEET
    from fleetgraph.storage.embedded import SQLiteGraphStore

    now = two_months_ago()
    store = SQLiteGraphStore(FLEET, ":memory:", clock=lambda: now)
    try:
        check_at_the_stores_now(store, now)
    finally:
        store.close()


@pytest.mark.integration
def test_rows_read_at_the_stores_now_cassandra(
    store_factory: Callable[[], GraphStore], request: pytest.FixtureRequest,
    cassandra_graphs: Any,
) -> None:
    if request.node.callspec.params.get("store_factory") != "cassandra":
        pytest.skip("the embedded backend has its own test above")
    now = two_months_ago()
    store = cassandra_graphs.store(clock=lambda: now)
    try:
        check_at_the_stores_now(store, now)
    finally:
        cassandra_graphs.release(store)
