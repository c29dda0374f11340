"""The streamed fleet-scale bench on a tiny fleet: the ids it queries are the ones the
events name, and a second run reuses the log and the store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fleetgraph.bench import fleet_scale, queries
from fleetgraph.bench.run import cases_for
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.read_models.residency import RESIDENCY
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import Direction, TimeWindow
from fleetgraph.storage.delegating import DelegatingStore
from fleetgraph.storage.embedded import SQLiteGraphStore

END_US = 1_796_258_700_000_000


def test_a_tiny_fleet_is_simulated_ingested_and_queried_once(tmp_path: Path) -> None:
    config = SimulationConfig(seed=17, sites=3, hours=4.0, end_time_us=END_US,
                              jobs_per_site_per_hour=3.0, telemetry_interval_s=900)
    first = fleet_scale.run(config, tmp_path, repeats=3, budget_s=0.1)
    events = queries.clean_events(list(read_event_log(tmp_path / "events.avro")))
    assert first["simulate"]["messages"] == first["ingest"]["events"] > 0
    assert first["ingest"]["dead_lettered"] == 0

    faulted = sorted({e["component_id"] for t, e in events
                      if t == "telemetry" and e["kind"] == "status" and e.get("fault_id")})
    datasets = sorted({e["artifact_id"] for t, e in events
                       if t == "artifacts" and e["artifact_id"].startswith("dataset:")})
    assert faulted and datasets
    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    picked = fleet_scale.picked_ids(store)
    store.close()
    assert picked["faulted"] == faulted[:fleet_scale.SAMPLES]
    assert picked["datasets"] == datasets[:fleet_scale.SAMPLES]
    assert set(first["queries_embedded"]) >= {"affectedJobs", "blastRadius", "placement",
                                              "lineage", "dataResidency", "modelHotness"}

    log_written = (tmp_path / "events.avro").stat().st_mtime_ns
    store_written = (tmp_path / "graph.sqlite").stat().st_mtime_ns
    again = fleet_scale.run(config, tmp_path, repeats=3, budget_s=0.1)
    assert (tmp_path / "events.avro").stat().st_mtime_ns == log_written
    assert again["ingest"] == first["ingest"] and again["now_us"] == first["now_us"]
    assert again["stored_edges"] == first["stored_edges"]
    assert store_written <= (tmp_path / "graph.sqlite").stat().st_mtime_ns


class _ReadsHidden(DelegatingStore):
    """A store that lost its ``read`` edges (and the residency rows, which were computed
    with them): dataResidency and lineage answer less."""

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        if model == RESIDENCY:
            return {}
        return super().get_read_models(model, keys)

    def neighbour_ids(self, edge_type: str, ids: Sequence[str], direction: Direction, *,
                      recorded_by: int | None = None,
                      window: TimeWindow | None = None) -> dict[str, list[str]]:
        if edge_type == "read":
            return {}
        return super().neighbour_ids(edge_type, ids, direction, recorded_by=recorded_by,
                                     window=window)


def test_the_sampled_check_counts_equal_and_differing_answers(tmp_path: Path) -> None:
    config = SimulationConfig(seed=5, sites=2, hours=3.0, end_time_us=END_US,
                              jobs_per_site_per_hour=3.0, telemetry_interval_s=900)
    result = fleet_scale.run(config, tmp_path, repeats=1, budget_s=0.0)
    now_us = result["now_us"]
    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    try:
        ids = fleet_scale.picked_ids(store)
        cases = [c for c in cases_for(ids["faulted"], ids["models"], ids["artifacts"],
                                      ids["datasets"], now_us)
                 if c.name in ("dataResidency", "affectedJobs")]
        assert {c.name for c in cases} == {"dataResidency", "affectedJobs"}
        same = fleet_scale.sampled_check(store, store, cases, now_us)
        for case in cases:
            picked = min(len(case.variables), fleet_scale.CHECKED)
            assert same[case.name]["checked"] == same[case.name]["equal"] == picked > 0
        differing = fleet_scale.sampled_check(store, _ReadsHidden(store), cases, now_us)
        assert differing["affectedJobs"]["equal"] == differing["affectedJobs"]["checked"]
        residency = differing["dataResidency"]
        assert residency["equal"] < residency["checked"]
        assert residency["first_differing"]
    finally:
        store.close()
