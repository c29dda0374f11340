"""The streamed fleet-scale bench on a tiny fleet: the ids it queries are the ones the
events name, and a second run reuses the log and the store."""

from __future__ import annotations

from pathlib import Path

from fleetgraph.bench import fleet_scale, queries
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.simulator import SimulationConfig
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
