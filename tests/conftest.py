"""Shared fixtures: a store per backend, so every contract test runs on each."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.embedded import SQLiteGraphStore

BACKENDS = ["embedded", pytest.param("cassandra", marks=pytest.mark.integration)]


class CassandraGraphs:
    """Isolated graphs on the local Cassandra for one test session.

    Creating a graph's ~32 keyspaces takes seconds, so each keyspace prefix
    (``t<session hex><n>_``) is created once and reused: a store hands its
    prefix back truncated, and the next store takes it. A test that holds
    several stores at once gets several prefixes. All are dropped at the end.
    Without a server on the CQL port the tests skip, unless
    FLEETGRAPH_REQUIRE_STACK=1: then Cassandra is started (in a container when
    a Docker engine answers, from the Maven-fetched stack otherwise), and
    failing that the tests fail.
    """

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.created: dict[str, Any] = {}  # every prefix made, and its registry
        self.reusable: set[str] = set()  # prefixes with the fleet's default layout
        self.free: list[str] = []
        self._where: tuple[tuple[str, ...], int] | None = None
        self._unavailable: str | None = None

    def where(self) -> tuple[tuple[str, ...], int]:
        """Contact points and port, or skip (fail when the stack is required)."""
        if self._where is not None:
            return self._where
        if os.environ.get("FLEETGRAPH_REQUIRE_STACK") == "1":
            from fleetgraph.infra.containers import endpoints_for_tests

            ends = endpoints_for_tests(["cassandra"])
            self._where = (tuple(ends.cassandra_contact_points), ends.cassandra_port)
            return self._where
        if self._unavailable is None:
            port = int(os.environ.get("FLEETGRAPH_CASSANDRA_PORT") or 9042)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2.0):
                    self._where = (("127.0.0.1",), port)
                    return self._where
            except OSError as exc:
                self._unavailable = f"Cassandra is not reachable on 127.0.0.1:{port}: {exc}"
        pytest.skip(f"{self._unavailable}; run `fleetgraph stack up --only cassandra`")

    def store(self, registry: Any = FLEET, **options: Any) -> Any:
        """A store on a clean prefix (new or reused); give it back with ``release``."""
        from fleetgraph.storage.cassandra import CassandraConfig, CassandraGraphStore

        points, port = self.where()
        default = registry is FLEET and not options
        schema: Literal["init", "trust"]
        if default and self.free:
            prefix, schema = self.free.pop(), "trust"
        else:
            prefix, schema = f"t{self.tag}{len(self.created)}_", "init"
            self.created[prefix] = registry
            if default:
                self.reusable.add(prefix)
        return CassandraGraphStore(
            registry, CassandraConfig(hosts=",".join(points), port=port, keyspace_prefix=prefix),
            schema=schema, **options,
        )

    def release(self, store: Any, *, written_elsewhere: bool = False) -> None:
        """Hand a store's prefix back, emptied. A store only knows the tables it wrote
        itself: one another process (a worker) wrote into says ``written_elsewhere``,
        and every table of its prefix is emptied, or the next test would read its rows."""
        prefix = store.config.keyspace_prefix
        try:
            if prefix in self.reusable:
                store.truncate(only_written=not written_elsewhere)
                self.free.append(prefix)
            else:
                store.drop_schema()
                self.created.pop(prefix, None)
        finally:
            store.close()

    def drop_all(self) -> None:
        """Drop every prefix made in this session, even half-made ones."""
        from fleetgraph.storage.cassandra import CassandraConfig, CassandraGraphStore

        if self._where is None:
            return
        points, port = self._where
        for prefix, registry in self.created.items():
            where = CassandraConfig(hosts=",".join(points), port=port, keyspace_prefix=prefix)
            store = CassandraGraphStore(registry, where, schema="trust")
            try:
                store.drop_schema()
            finally:
                store.close()


@pytest.fixture(scope="session")
def cassandra_graphs() -> Iterator[CassandraGraphs]:
    graphs = CassandraGraphs()
    yield graphs
    graphs.drop_all()


@pytest.fixture(params=BACKENDS)
def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path, cassandra_graphs: CassandraGraphs
) -> Iterator[Callable[[], GraphStore]]:
    made: list[GraphStore] = []
    cleanups: list[Callable[[], None]] = []

    def make() -> GraphStore:
        if request.param == "embedded":
            store: GraphStore = SQLiteGraphStore(FLEET, tmp_path / f"graph-{len(made)}.sqlite")
            cleanups.append(store.close)
        elif request.param == "cassandra":  # connects on first use only
            store = cassandra_graphs.store()
            cleanups.append(lambda: cassandra_graphs.release(store))
        else:  # pragma: no cover
            raise AssertionError(f"unknown backend {request.param}")
        made.append(store)
        return store

    yield make
    for cleanup in cleanups:
        cleanup()


@pytest.fixture
def store(store_factory: Callable[[], GraphStore]) -> GraphStore:
    return store_factory()
