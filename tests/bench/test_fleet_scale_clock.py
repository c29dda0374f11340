"""The fleet-scale bench computes and queries the embedded store's read models on the
fleet's now, not the wall clock.

A kept fleet ends two months before the wall clock: through a store on the wall clock
every live replica (TTL 30 days) has expired, so the ``replicas`` rows would show none
and hold forever, while the Cassandra copy (on the fleet's now) shows them and holds a
month: the two backends would read different rows for the same ``now``. Checked
against the event log: every replica replicated and not evicted is live in its row.
"""

from __future__ import annotations

from pathlib import Path

from fleetgraph.bench import fleet_scale, queries
from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.read_models.replicas import REPLICAS, ItemReplicas
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.embedded import SQLiteGraphStore

MINUTE = 60_000_000
DAY = 24 * 60 * MINUTE


def test_the_read_models_are_computed_at_the_fleets_now(tmp_path: Path) -> None:
    end = (wall_clock_us() - 60 * DAY) // MINUTE * MINUTE
    config = SimulationConfig(seed=17, sites=3, hours=4.0, end_time_us=end,
                              jobs_per_site_per_hour=3.0, telemetry_interval_s=900)
    fleet_scale.run(config, tmp_path, repeats=1, budget_s=0.0)
    kept: set[tuple[str, str]] = set()
    for topic, event in sorted(queries.clean_events(list(read_event_log(tmp_path / "events.avro"))),
                               key=lambda te: te[1]["event_time"]):
        if topic != "artifacts" or not event.get("site_id"):
            continue
        pair = (event["artifact_id"], event["site_id"])
        if event["kind"] == "replicated":
            kept.add(pair)
        elif event["kind"] == "evicted":
            kept.discard(pair)
    assert kept
    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite", schema="check",
                             clock=lambda: end)
    try:
        texts = store.get_read_models(REPLICAS, sorted({a for a, _ in kept}))
    finally:
        store.close()
    live = set()
    for item, text in texts.items():
        row = ItemReplicas.decode(item, text)
        assert row is not None
        live.update((item, p.site_id) for p in row.pairs if p.live is not None)
    assert kept <= live, sorted(kept - live)[:5]
