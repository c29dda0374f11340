"""The embedded ingest keeps the site-state read model, and `fleetgraph read-models
rebuild` makes it again; placement at now then answers as the whole-fleet definition."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fleetgraph.cli.main import cli
from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.read_models.site_state import (
    DIRECTORY_KEY,
    SITE_FREE_GPUS,
    SITE_STATE,
    STALE,
    SiteState,
)
from fleetgraph.serving.queries.placement import (
    PlacementRequest,
    placement,
    placement_reference,
)
from fleetgraph.storage.embedded import SQLiteGraphStore


def same_answers(store: SQLiteGraphStore) -> None:
    now = wall_clock_us()
    for request in (PlacementRequest(1), PlacementRequest(16, allowed_jurisdictions={"x"})):
        at_now = placement(store, request, now)
        reference = placement_reference(store, request, now)
        assert at_now == reference
    assert at_now.warnings == ["no site has jurisdiction 'x'"]


def test_ingest_keeps_the_read_model_and_rebuild_makes_it_again(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    simulated = runner.invoke(cli, [*data, "simulate", "--sites", "3", "--hours", "2"])
    assert simulated.exit_code == 0, simulated.output
    ingested = runner.invoke(cli, [*data, "ingest", "--fresh"])
    assert ingested.exit_code == 0, ingested.output

    store = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    sites = {r.id for r in store.scan_nodes("site", None, 10).records}
    rows = store.get_read_models(SITE_STATE)
    assert rows.pop(DIRECTORY_KEY) == "3"  # the ingest's first write marked the directory
    assert set(rows) == sites and len(sites) == 3
    assert set(store.get_read_models(SITE_FREE_GPUS)) == sites
    states = [SiteState.decode(s, text) for s, text in rows.items()]
    assert all(s is not None and s.racks > 0 for s in states)
    same_answers(store)

    store.put_read_models(SITE_STATE, dict.fromkeys([*sites, DIRECTORY_KEY]))
    store.put_read_models(SITE_FREE_GPUS, dict.fromkeys(sites))
    assert store.count(f"read_model_{SITE_STATE}") == 0
    same_answers(store)  # no row: every site listed from the nodes, computed on the spot
    rebuilt = runner.invoke(cli, [*data, "read-models", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "3 sites recomputed" in rebuilt.output
    assert store.get_read_models(SITE_STATE).keys() == {*rows, DIRECTORY_KEY}
    same_answers(store)
    store.close()


def test_the_kafka_sink_keeps_the_read_model() -> None:
    """The store side of the Kafka path (graph records -> GraphStoreWriter -> store)
    recomputes the sites it writes at once (in a thread of its own), then, within its
    least wait, marks the rows of the sites it touches unknown; placement at now
    answers as the definition throughout."""
    from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
    from fleetgraph.ingest.deadletter import DeadLetterList
    from fleetgraph.ingest.kafka.records import GraphRecordCodec
    from fleetgraph.ingest.kafka.store_writer import GraphStoreWriter, KafkaRecord
    from fleetgraph.ingest.kafka.topics import TopicNames

    codec = GraphRecordCodec(FLEET, TopicNames("fg."))
    store = SQLiteGraphStore(FLEET, ":memory:")
    writer = GraphStoreWriter(codec, lambda: store, DeadLetterList())
    now = wall_clock_us()
    t = now - 3_600_000_000
    prov = Provenance("e", "s", t, "test")

    def records(upserts: list[Upsert]) -> list[KafkaRecord]:
        encoded = [codec.encode(u) for u in upserts]
        return [KafkaRecord(e.topic, 0, i, e.value) for i, e in enumerate(encoded)]

    first: list[Upsert] = [NodeUpsert("site", "site:k", {"jurisdiction": "de"}, t, prov)]
    for n in range(2):
        first += [
            EdgeUpsert("in_site", f"rack:k-r{n}", "site:k", {"valid_from": t}, t, prov),
            EdgeUpsert("in_rack", f"server:k-n{n}", f"rack:k-r{n}", {"valid_from": t}, t, prov),
            EdgeUpsert("in_server", f"gpu:k-g{n}", f"server:k-n{n}", {"valid_from": t}, t, prov),
        ]
    assert writer.write(records(first)) == len(first)
    assert writer.sink.wait(60.0)  # recomputed beside the sink's writes, at once
    row = SiteState.decode("site:k", store.get_read_models(SITE_STATE)["site:k"])
    assert row is not None and (row.racks, row.healthy_racks, row.free_gpus) == (2, 2, 2)
    request = PlacementRequest(1)
    at = wall_clock_us()
    assert placement(store, request, at) == placement_reference(store, request, at)

    job = EdgeUpsert("allocated", "job:j", "gpu:k-g0", {"valid_from": t}, t, prov)
    assert writer.write(records([job])) == 1
    later = wall_clock_us()
    assert store.get_read_models(SITE_STATE)["site:k"] == STALE  # until recomputed
    answer = placement(store, request, later)
    assert answer == placement_reference(store, request, later)
    assert [c.free_gpus for c in answer.candidates] == [1]
