"""Shared fixtures: a store per backend, so every contract test runs on each."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graph_model import FLEET
from storage.base import GraphStore
from storage.embedded import SQLiteGraphStore

BACKENDS = ["embedded"]


@pytest.fixture(params=BACKENDS)
def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], GraphStore]]:
    made: list[GraphStore] = []

    def make() -> GraphStore:
        if request.param == "embedded":
            store: GraphStore = SQLiteGraphStore(FLEET, tmp_path / f"graph-{len(made)}.sqlite")
        else:  # pragma: no cover - added with the Cassandra backend
            raise AssertionError(f"unknown backend {request.param}")
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(store_factory: Callable[[], GraphStore]) -> GraphStore:
    return store_factory()
