"""The second horizon: a declared history retention bounds what history keeps."""

from __future__ import annotations

import time

import pytest

from fleetgraph.graph_model.records import EdgeUpsert, Provenance
from fleetgraph.graph_model.types import EdgeType, GraphModelError, NodeType, Registry
from fleetgraph.storage.base import Direction, TimeWindow
from fleetgraph.storage.cassandra.schema import EdgeNamespace
from fleetgraph.storage.cassandra.writes import plan_history
from fleetgraph.storage.embedded import SQLiteGraphStore

DAY_S = 24 * 3600
DAY = DAY_S * 1_000_000
NOW = time.time_ns() // 1000


def registry(history_seconds: int | None) -> Registry:
    declared = Registry()
    declared.add_node(NodeType.declare("artifact"))
    declared.add_node(NodeType.declare("site"))
    declared.add_edge(EdgeType.declare("cached_at", ["artifact"], ["site"], temporal=True,
                                       ttl_seconds=30 * DAY_S, history_seconds=history_seconds))
    return declared


def replica(t: int, **props: object) -> EdgeUpsert:
    return EdgeUpsert("cached_at", "artifact:a1", "site:s1", dict(props), t,
                      Provenance(f"e-{t}", "test:0", t, "retention-test"))


def test_a_retention_must_outlast_the_live_ttl() -> None:
    with pytest.raises(GraphModelError, match="outlasts"):
        registry(DAY_S)
    with pytest.raises(GraphModelError, match="needs a live TTL"):
        EdgeType.declare("x", ["a"], ["b"], history_seconds=DAY_S)


def test_embedded_history_forgets_writes_past_the_retention() -> None:
    store = SQLiteGraphStore(registry(100 * DAY_S), ":memory:", clock=lambda: NOW)
    store.upsert_edges([
        replica(NOW - 150 * DAY, valid_from=NOW - 150 * DAY, valid_to=None),
        replica(NOW - 140 * DAY, valid_to=NOW - 140 * DAY),
        replica(NOW - 50 * DAY, valid_from=NOW - 50 * DAY, valid_to=None),
    ])
    window = TimeWindow(NOW - 365 * DAY, NOW)
    got = store.neighbours("cached_at", ["artifact:a1"], Direction.OUT, window)["artifact:a1"]
    # the writes older than 100 days are hidden, then deleted by expire
    assert [(e.props.get("valid_from"), e.props.get("valid_to")) for e in got] == [
        (NOW - 50 * DAY, NOW - 20 * DAY)]
    assert store.count("hist_cached_at") == 3
    store.expire(NOW)
    assert store.count("hist_cached_at") == 1


def test_cassandra_history_rows_live_for_what_is_left_of_the_retention() -> None:
    namespace = EdgeNamespace.for_type("x_", registry(100 * DAY_S).edge("cached_at"), {})
    writes = plan_history(namespace, replica(NOW - 40 * DAY, last_access=NOW - 40 * DAY), NOW)
    assert [w.table.name for w in writes] == ["history_out", "history_in"]
    ttl, timestamp = writes[0].params[:2]
    assert timestamp == NOW - 40 * DAY
    assert 60 * DAY_S - 1 <= ttl <= 60 * DAY_S + 1
    assert plan_history(namespace, replica(NOW - 101 * DAY, last_access=NOW), NOW) == []
    forever = EdgeNamespace.for_type("x_", registry(None).edge("cached_at"), {})
    [out, _] = plan_history(forever, replica(NOW - 400 * DAY, last_access=NOW), NOW)
    assert out.params[0] == NOW - 400 * DAY  # no TTL: the timestamp comes first
    assert "history retention=forever" in out.table.comment
