"""affectedJobs on every kind of component (GPUs, switches and servers too), against
the networkx oracle on the same events (tests/oracle/test_oracle.py's fleet, plus a
ToR switch)."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from fleetgraph.bench.reference.graph import build_graph
from fleetgraph.bench.reference.queries import affected_jobs as oracle_affected_jobs
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.message import Message
from fleetgraph.schemas import load_event_codec
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.affected_jobs import affected_jobs
from fleetgraph.storage.base import TimeWindow
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.e2e.fleet_run import ingest_into
from tests.oracle.test_oracle import fault, fleet_events, inv, run

TOR = "switch:s1-tor1"
Events = list[tuple[str, dict[str, Any]]]


def events() -> Events:
    # j7's cancel gives no placement: the oracle closes its edges, ingest knows no
    # placement to close (not what this test is about), so it is left out
    return [
        *(e for e in fleet_events() if not (e[1].get("job_id") == "job:j7"
                                            and e[1]["kind"] == "cancelled")),
        inv(0, "installed", TOR, parent_id="rack:s1-r1"),
        *fault(TOR, "T", 240, 330),
        *run("job:k1", "server:s1-r2-n1", 230, 400),  # on r2: not the switch's rack
    ]


@pytest.fixture(scope="module")
def both() -> tuple[SQLiteGraphStore, nx.MultiDiGraph]:
    codec = load_event_codec()
    stream = events()
    messages = [Message(topic, codec.encode(topic, event), f"t:{i}")
                for i, (topic, event) in enumerate(stream)]
    store = SQLiteGraphStore(FLEET, ":memory:", clock=lambda: 10_000)
    dead_letters, _ = ingest_into(store, messages, clock_us=10_000)
    assert not dead_letters.records, dead_letters.records[:3]
    return store, build_graph(stream)


def rows(store: SQLiteGraphStore, component: str, window: TimeWindow) -> list[dict[str, Any]]:
    return [{"job": r.job_id, "fault": r.fault_id, "server": r.server_id, "rack": r.rack_id,
             "site": r.site_id, "overlap_from": r.overlap_from, "overlap_to": r.overlap_to}
            for r in affected_jobs(store, component, window).items]


@pytest.mark.parametrize("window", [(None, None), (0, 260), (300, 330), (450, None)])
def test_every_component_agrees_with_the_oracle(
    both: tuple[SQLiteGraphStore, nx.MultiDiGraph], window: tuple[int | None, int | None]
) -> None:
    store, graph = both
    components = sorted(n for n in graph.nodes if str(n).split(":")[0] in
                        ("site", "rack", "cdu", "power_shelf", "server", "gpu", "switch"))
    assert {"gpu:s1-r1-n1-g0", TOR, "server:s1-r1-n1"} <= set(components)
    for component in components:
        expected = oracle_affected_jobs(graph, component, *window)
        try:
            got = rows(store, component, TimeWindow(*window))
        except NotFound:  # only an edge's far end (a GPU only allocated): no node, no fault
            assert store.get_nodes([component]) == {} and expected == [], component
            continue
        assert got == expected, component


def test_a_gpu_and_a_switch_in_fault_have_jobs(
    both: tuple[SQLiteGraphStore, nx.MultiDiGraph],
) -> None:
    store, _ = both
    gpu_jobs = rows(store, "gpu:s1-r1-n1-g0", TimeWindow())
    assert [r["job"] for r in gpu_jobs] == [
        "job:j6", "job:j1", "job:j4", "job:j3", "job:j7", "job:j5"]  # j7 left open
    assert {r["server"] for r in gpu_jobs} == {"server:s1-r1-n1"}
    assert {r["job"] for r in rows(store, TOR, TimeWindow())} == {
        "job:j1", "job:j3", "job:j4", "job:j9"}  # not k1, on r2


def test_an_id_that_is_no_component_is_an_invalid_argument(
    both: tuple[SQLiteGraphStore, nx.MultiDiGraph],
) -> None:
    store, _ = both
    with pytest.raises(InvalidArgument, match="'job:j1' is not a component that can fail"):
        affected_jobs(store, "job:j1", TimeWindow())
