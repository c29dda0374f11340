"""Every read the serving layer makes through the store stops at the request's
deadline, the read models included (placement at now reads only those)."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from fleetgraph.graph_model import FLEET
from fleetgraph.serving import deadline
from fleetgraph.serving.deadline import DeadlineStore, QueryTimeout
from fleetgraph.storage.base import Direction
from fleetgraph.storage.embedded import SQLiteGraphStore
from fleetgraph.storage.metered import MeteredStore, StoreMetrics

READS: dict[str, Callable[[DeadlineStore], object]] = {
    "get_nodes": lambda s: s.get_nodes(["site:s0"]),
    "neighbours": lambda s: s.neighbours("in_site", ["site:s0"], Direction.IN),
    "neighbour_ids": lambda s: s.neighbour_ids("in_site", ["site:s0"], Direction.IN),
    "node_values": lambda s: s.node_values(["site:s0"], "jurisdiction"),
    "scan_nodes": lambda s: s.scan_nodes("site", None, 10),
    "get_read_models": lambda s: s.get_read_models("site_state"),
}


def in_request(deadline_at: float, call: Callable[[], object]) -> object:
    def run() -> object:
        deadline._deadline.set(deadline_at)
        return call()
    return contextvars.copy_context().run(run)


@pytest.mark.parametrize("read", sorted(READS))
def test_a_read_past_the_deadline_is_refused(read: str) -> None:
    store = DeadlineStore(SQLiteGraphStore(FLEET, ":memory:"))
    store.init_schema()
    in_request(time.monotonic() + 60, lambda: READS[read](store))  # in time: answers
    with pytest.raises(QueryTimeout):
        in_request(time.monotonic() - 1, lambda: READS[read](store))


def test_writes_are_not_cut_by_a_request_deadline() -> None:
    store = DeadlineStore(SQLiteGraphStore(FLEET, ":memory:"))
    store.init_schema()
    in_request(time.monotonic() - 1, lambda: store.put_read_models("site_state", {"s": "{}"}))
    assert store.get_read_models("site_state") == {"s": "{}"}


def test_read_model_calls_are_timed_and_their_rows_counted() -> None:
    registry = CollectorRegistry()
    store = MeteredStore(SQLiteGraphStore(FLEET, ":memory:"), StoreMetrics(registry, FLEET.edges))
    store.init_schema()
    store.put_read_models("site_state", {"a": "{}", "b": "{}"})
    assert store.get_read_models("site_state", ["a"]) == {"a": "{}"}
    assert registry.get_sample_value(
        "fleetgraph_store_rows_total", {"operation": "put_read_models"}) == 2
    assert registry.get_sample_value(
        "fleetgraph_store_rows_total", {"operation": "get_read_models"}) == 1
    assert registry.get_sample_value(
        "fleetgraph_store_seconds_count",
        {"operation": "get_read_models", "edge_type": ""}) == 1
