"""The read models a copy computes from its source (storage/copy.py
``ReadModelsElsewhere``): the rebuild reads the source's graph and writes the target's
read models only; the rows are those the source's own rebuild writes; the source is
never written. Stack-free (two embedded stores); the copy into Cassandra itself is
tests/storage/test_store_copy_cassandra.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Provenance
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.read_models.maintain import SiteStateMaintainer
from fleetgraph.ingest.read_models.site_state import DIRECTORY_KEY, SITE_FREE_GPUS, SITE_STATE
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.simulator import SimulationConfig
from fleetgraph.storage.base import StorageError
from fleetgraph.storage.copy import ReadModelsElsewhere
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.bulk_support import shuffled_archive

NOW = 1_796_271_600_000_000
CONFIG = SimulationConfig(seed=5, sites=3, hours=4.0, end_time_us=NOW, malformed_rate=0.0)


def test_read_models_computed_from_the_source_land_in_the_target(tmp_path: Path) -> None:
    archive = shuffled_archive(CONFIG, 3, tmp_path / "archive.avro")
    source = SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")
    target = SQLiteGraphStore(FLEET)  # an empty graph: every row it gets is computed elsewhere
    try:
        run_embedded(Pipeline.for_fleet(StoreSink(source), DeadLetterList()),
                     lambda: read_event_log(archive))
        assert source.get_read_models(SITE_STATE) == {}  # the plain sink keeps none

        sites = SiteStateMaintainer(ReadModelsElsewhere(source, target), lambda: NOW).rebuild()
        assert sites == CONFIG.sites
        assert source.get_read_models(SITE_STATE) == {}  # the source was not written
        assert target.scan_nodes("site", None, 10).records == []
        copied = {m: target.get_read_models(m) for m in (SITE_STATE, SITE_FREE_GPUS)}
        assert DIRECTORY_KEY in copied[SITE_STATE] and len(copied[SITE_STATE]) == sites + 1

        SiteStateMaintainer(source, lambda: NOW).rebuild()
        for model, rows in copied.items():
            assert rows == source.get_read_models(model), model
    finally:
        source.close()
        target.close()


def test_the_source_is_read_only() -> None:
    source, target = SQLiteGraphStore(FLEET), SQLiteGraphStore(FLEET)
    store = ReadModelsElsewhere(source, target)
    node = NodeUpsert("site", "site:x", {}, NOW, Provenance("e1", "test:0", NOW, "test"))
    try:
        with pytest.raises(StorageError, match="read only"):
            store.upsert_nodes([node])
        with pytest.raises(StorageError, match="read only"):
            store.expire(NOW)
        assert source.get_nodes(["site:x"]) == {}
    finally:
        source.close()
        target.close()
