"""One simulated fleet, ingested once per session, and its networkx reference graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fleet_run import FleetRun, fleet_run
from tests.oracle import graph as oracle_graph


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> FleetRun:
    return fleet_run(Path(tmp_path_factory.mktemp("e2e")) / "graph.sqlite")


@pytest.fixture(scope="session")
def graph(run: FleetRun) -> Any:
    return oracle_graph.build_graph(run.clean_events)
