"""One simulated fleet, ingested once per session into each backend, and its
networkx reference graph: every e2e test runs on the embedded store and, as an
integration test, on Cassandra."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.bench.reference import graph as oracle_graph
from tests.conftest import CassandraGraphs
from tests.e2e.fleet_run import END_US, FleetRun, fleet_run, open_store


@pytest.fixture(scope="session",
                params=["embedded", pytest.param("cassandra", marks=pytest.mark.integration)])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        cassandra_graphs: CassandraGraphs) -> Iterator[FleetRun]:
    if request.param == "embedded":
        store = open_store(Path(tmp_path_factory.mktemp("e2e")) / "graph.sqlite")
        yield fleet_run(store)
        store.close()
    else:
        store = cassandra_graphs.store(clock=lambda: END_US)
        yield fleet_run(store)
        cassandra_graphs.release(store)


@pytest.fixture(scope="session")
def graph(run: FleetRun) -> Any:
    return oracle_graph.build_graph(run.clean_events)
