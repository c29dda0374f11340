"""``GraphStore.together``: independent reads of a query, run at once by Cassandra's read
pool (storage/cassandra/read_pool.py) and one after another by default; the results in
order, the first error raised after every read ended, the caller's context in each read,
and no pool thread ever waiting on the pool."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.cassandra.read_pool import ReadPool
from fleetgraph.storage.delegating import DelegatingStore
from fleetgraph.storage.embedded import SQLiteGraphStore

request_id: ContextVar[str] = ContextVar("request_id", default="none")


def test_reads_run_at_once_and_come_back_in_order() -> None:
    pool = ReadPool(threads=2)
    # each read waits for the other two: one after another, the barrier would break
    barrier = threading.Barrier(3, timeout=30)

    def read(n: int) -> Any:
        return lambda: (barrier.wait(), n)[1]

    try:
        assert pool.run([read(0), read(1), read(2)]) == [0, 1, 2]
    finally:
        pool.close()


def test_the_first_error_is_raised_after_every_read_ended() -> None:
    pool = ReadPool(threads=2)
    ended = threading.Event()

    def failing() -> int:
        raise ValueError("the second read")

    def slow_failing() -> int:
        ended.wait(0.2)
        ended.set()
        raise KeyError("the third read")

    try:
        with pytest.raises(ValueError, match="the second read"):
            pool.run([lambda: 0, failing, slow_failing])
        assert ended.is_set()
        with pytest.raises(KeyError):  # the caller's own read failing, the others fine
            pool.run([lambda: {}["x"], lambda: 1])
    finally:
        pool.close()


def test_each_read_runs_in_the_callers_context() -> None:
    pool = ReadPool(threads=2)
    token = request_id.set("request-7")
    try:
        assert pool.run([request_id.get, request_id.get, request_id.get]) == ["request-7"] * 3
    finally:
        request_id.reset(token)
        pool.close()


def test_reads_started_in_a_pool_thread_run_in_that_thread() -> None:
    pool = ReadPool(threads=1)  # a nested run queued behind its own thread would wait forever

    def name() -> str:
        return threading.current_thread().name

    def nested() -> list[str]:
        return [name(), *pool.run([name, name])]

    try:
        caller, (outer, first, second) = pool.run([name, nested])
        assert caller == threading.current_thread().name
        assert outer.startswith("fleetgraph-reads") and outer == first == second
    finally:
        pool.close()


def test_the_default_runs_reads_one_after_another_in_order(tmp_path: Path) -> None:
    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    order: list[int] = []

    def read(n: int) -> Any:
        return lambda: (order.append(n), threading.current_thread().name)[1]

    try:
        here = threading.current_thread().name
        assert store.together(read(0), read(1), read(2)) == (here, here, here)
        assert order == [0, 1, 2]
        assert store.together(lambda: store.get_nodes(["site:none"]), lambda: 5) == ({}, 5)
    finally:
        store.close()


def test_a_delegating_store_runs_reads_as_its_inner_store(tmp_path: Path) -> None:
    class Recording(SQLiteGraphStore):
        ran: list[int] = []

        def run_reads(self, reads: Any) -> list[Any]:
            self.ran.append(len(reads))
            return super().run_reads(reads)

    inner = Recording(FLEET, tmp_path / "graph.sqlite")
    proxy: GraphStore = DelegatingStore(inner)
    try:
        assert proxy.together(lambda: 1, lambda: 2) == (1, 2)
        assert inner.ran == [2]
    finally:
        inner.close()
