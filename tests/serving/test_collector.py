"""What is alive when the server starts, and when a benchmark starts timing, is out of the
garbage collector's reach until it stops, and so is what survives a full collection,
put back for one full walk every so often (serving/collector.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from fleetgraph.bench.queries import QueryCase, measure
from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.serving.app import create_app
from fleetgraph.serving.collector import collector_for_serving, long_lived_frozen
from fleetgraph.storage.embedded import SQLiteGraphStore


@pytest.fixture(autouse=True)
def _thawed() -> Any:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_block_freezes_what_was_alive_and_thaws_it_after() -> None:
    alive: tuple[list[object], dict[str, list[int]]] = [object() for _ in range(10)], {"a": []}
    assert gc.get_freeze_count() == 0
    with long_lived_frozen():
        frozen = gc.get_freeze_count()
        assert frozen >= 2
        made_inside: list[list[int]] = [[] for _ in range(1000)]
        gc.collect()
        # what the block makes stays collectable (the count may fall: frozen objects freed)
        assert gc.get_freeze_count() < frozen + len(made_inside)
    assert gc.get_freeze_count() == 0
    assert alive and made_inside


def test_the_server_freezes_at_start_and_thaws_at_stop() -> None:
    store = SQLiteGraphStore(FLEET, ":memory:")
    app = create_app(store)
    assert gc.get_freeze_count() == 0
    during: list[int] = []

    async def serve() -> None:
        async with app.router.lifespan_context(app):  # as uvicorn runs the lifespan
            during.append(gc.get_freeze_count())

    asyncio.run(serve())
    assert during[0] > 1000  # modules, the schema, the store
    assert gc.get_freeze_count() == 0
    store.close()


def test_the_query_benchmark_times_with_the_start_frozen() -> None:
    store = SQLiteGraphStore(FLEET, ":memory:")
    seen: list[int] = []

    def baseline(graph: Any, variables: dict[str, Any]) -> None:
        seen.append(gc.get_freeze_count())

    case = QueryCase("typename", "{ __typename }", [{}], baseline)
    measure(store, [case], None, 0, repeats=3)
    assert seen and min(seen) > 1000
    assert gc.get_freeze_count() == 0
    store.close()


class Cycle:
    """An object in a reference cycle: freed by the collector only."""

    def __init__(self) -> None:
        self.me = self


def test_survivors_of_a_full_collection_are_frozen_and_thawed_for_one_walk() -> None:
    now = [0.0]
    with collector_for_serving(thaw_every_s=100.0, clock=lambda: now[0]) as freezer:
        at_start = gc.get_freeze_count()
        kept = [[i] for i in range(1000)]  # made after the start: collectable
        cycle = Cycle()
        dead = weakref.ref(cycle)
        gc.collect()  # a full collection: its survivors (kept, cycle) frozen
        assert freezer.freezes == 1
        assert gc.get_freeze_count() >= at_start + 990  # less any frozen objects freed
        del cycle
        gc.collect()  # the dead cycle is frozen: not freed
        assert dead() is not None
        now[0] = 100.0
        gc.collect()  # the thaw is due: everything goes back ...
        assert freezer.thaws == 1 and gc.get_freeze_count() == 0
        gc.collect()  # ... so this walk frees the cycle, then freezes again
        assert dead() is None
        assert gc.get_freeze_count() >= 1000 and freezer.freezes == 3
        assert len(kept) == 1000
    assert gc.get_freeze_count() == 0
    assert freezer not in gc.callbacks


def test_a_young_collection_freezes_nothing() -> None:
    with collector_for_serving() as freezer:
        frozen = gc.get_freeze_count()
        survivors = [[i] for i in range(1000)]  # young, alive through both collections
        gc.collect(0)
        gc.collect(1)
        # The count may fall (a frozen object freed meanwhile leaves the permanent
        # generation, as in a CI run: 706,025 -> 706,023) but never takes the survivors.
        assert gc.get_freeze_count() < frozen + len(survivors) and freezer.freezes == 0
