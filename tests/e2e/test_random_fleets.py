"""Property tests: random fleets, workloads, placements and fault schedules from the
simulator, ingested in a random arrival order; every answer equals the networkx
reference."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetgraph.bench.reference import graph as oracle_graph
from fleetgraph.bench.reference import incidents as oracle_incidents
from fleetgraph.bench.reference import queries as oracle_queries
from fleetgraph.bench.reference import scheduling as oracle_scheduling
from fleetgraph.schemas import load_event_codec
from fleetgraph.serving.queries.affected_jobs import affected_jobs
from fleetgraph.serving.queries.blast_radius import blast_radius
from fleetgraph.serving.queries.placement import PlacementRequest, placement
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import TimeWindow
from tests.e2e.fleet_run import END_US, ingest, simulated_messages

H = 3_600_000_000

fleets = st.builds(
    SimulationConfig,
    seed=st.integers(0, 10_000),
    sites=st.integers(1, 4),
    hours=st.sampled_from([2.0, 4.0, 8.0]),
    end_time_us=st.just(END_US),
    jobs_per_site_per_hour=st.floats(1.0, 12.0),
    telemetry_interval_s=st.just(1800),
    cdu_fault_rate=st.floats(0.0, 6.0),
    power_shelf_fault_rate=st.floats(0.0, 6.0),
    staged_cdu_faults=st.integers(0, 3),
    rack_moves=st.integers(0, 2),
    reorder_rate=st.floats(0.0, 0.3),
)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(config=fleets, order_seed=st.integers(0, 1000), at_hours=st.floats(0.1, 0.95),
       gpus=st.sampled_from([1, 8, 32, 200]))
def test_random_fleets_answer_like_networkx(
    tmp_path: Path, config: SimulationConfig, order_seed: int, at_hours: float, gpus: int
) -> None:
    messages, _ = simulated_messages(config)
    random.Random(order_seed).shuffle(messages)
    # One fresh store per example: pytest's tmp_path is shared by all of Hypothesis's
    # examples, and examples often repeat seeds while other parameters differ.
    store, _, _ = ingest(messages, Path(tempfile.mkdtemp(dir=tmp_path)) / "fleet.sqlite")
    codec = load_event_codec()
    graph: Any = oracle_graph.build_graph(
        (m.topic, codec.decode(m.payload)[1]) for m in messages)
    start = END_US - int(config.hours * H)
    at = start + int(at_hours * config.hours * H)
    components = sorted(n for n in graph.nodes
                        if str(n).split(":")[0] in ("cdu", "power_shelf", "rack"))
    for component in components:
        got = affected_jobs(store, component, TimeWindow())
        mine = [{"job": r.job_id, "fault": r.fault_id, "server": r.server_id,
                 "rack": r.rack_id, "site": r.site_id, "overlap_from": r.overlap_from,
                 "overlap_to": r.overlap_to} for r in got.items]
        assert mine == oracle_queries.affected_jobs(graph, component), component
        radius = blast_radius(store, component, at)
        expected = oracle_incidents.blast_radius(graph, component, at)
        assert [{"id": i.id, "impact": i.impact, "dependency": i.dependency, "path": i.path}
                for i in radius.items] == expected["items"], component
        assert radius.already_in_fault == expected["already_in_fault"], component
    answer = placement(store, PlacementRequest(gpus=gpus, at_us=at), at)
    reference = oracle_scheduling.placement(graph, gpus, at)
    assert [(c.site_id, c.free_gpus) for c in answer.candidates] == [
        (c["site"], c["free_gpus"]) for c in reference["candidates"]]
    assert [c.score for c in answer.candidates] == pytest.approx(
        [c["score"] for c in reference["candidates"]], abs=1e-9)
    store.close()
