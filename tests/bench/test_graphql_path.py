"""fleetgraph bench graphql-path on the serving tests' small fleet: every query by its
three paths, the same answer in process and over HTTP, the targets judged. Figures
are reported, never asserted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleetgraph.bench import graphql_path
from fleetgraph.graph_model import FLEET
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.serving.conftest import NOW, FleetWriter, build_small_fleet


@pytest.fixture
def store() -> Iterator[SQLiteGraphStore]:
    with SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW) as small:
        build_small_fleet(FleetWriter(small))
        yield small


def test_every_query_is_measured_by_its_three_paths(store: SQLiteGraphStore) -> None:
    results = graphql_path.measure(store, NOW, repeats=3, budget_s=0.0)
    queries = results["queries"]
    assert set(queries) == {*graphql_path.HEADLINE, graphql_path.ONE_HOP_NAME}
    for figures in queries.values():
        for path in graphql_path.PATHS:
            assert figures[path]["runs"] == 3
            assert figures[path]["p50_ms"] <= figures[path]["p99_ms"]
        assert {"p50_ratio", "p99_ratio", "cpu_ratio"} <= figures["http"].keys()
    assert [t["met"] in (True, False) for t in results["targets"]] == [True] * 6
    assert results["client_floor"]["runs"] == 3
    assert "cduRacks" in graphql_path.table(results)


def test_the_paths_give_one_answer(store: SQLiteGraphStore) -> None:
    cases = {c.name: c for c in graphql_path.path_cases(store, NOW)}
    assert cases["affectedJobs"].variables == [{"id": "cdu:s1-c1"}, {"id": "server:s2-r1-n1"}]
    paths = graphql_path.Paths(store, NOW)
    paths.start()
    try:
        one_hop = cases[graphql_path.ONE_HOP_NAME]
        for variables in one_hop.variables:
            racks = one_hop.store_path(store, variables)
            in_process = paths.call("graphql", one_hop, variables)
            assert paths.call("http", one_hop, variables) == in_process
            node = in_process["node"]
            assert sorted(r["id"] for r in node["racks"]) == sorted(racks)  # type: ignore[arg-type]
        for case in cases.values():
            for variables in case.variables[:2]:
                assert paths.call("graphql", case, variables) == \
                    paths.call("http", case, variables)
    finally:
        paths.close()
