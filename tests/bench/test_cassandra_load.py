from pathlib import Path

from fleetgraph.bench.cassandra_load import upserts_from_dump
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.storage.embedded import SQLiteGraphStore


def test_dump_rows_become_upserts_that_rebuild_the_same_store(tmp_path: Path) -> None:
    p1 = Provenance("e1", "t/0/1", 1_000, "w")
    p2 = Provenance("e2", "t/0/2", 2_000, "w")
    first = SQLiteGraphStore(FLEET, tmp_path / "a.sqlite")
    first.upsert_nodes([
        NodeUpsert("cdu", "cdu:s1-c1", {"status": "ok", "capacity_kw": 100.0}, 1_000, p1),
        NodeUpsert("cdu", "cdu:s1-c1", {"status": "fault"}, 2_000, p2),
    ])
    first.upsert_edges([
        EdgeUpsert("in_rack", "server:s1-r1-n01", "rack:s1-r1", {}, 1_000, p1),
        EdgeUpsert("ran_on", "job:j1", "server:s1-r1-n01",
                   {"valid_from": 1_000, "valid_to": None}, 2_000, p2),
    ])
    rows = list(first.dump())
    upserts = list(upserts_from_dump(FLEET, rows))
    assert len(upserts) == 3
    second = SQLiteGraphStore(FLEET, tmp_path / "b.sqlite")
    second.upsert_nodes([u for u in upserts if isinstance(u, NodeUpsert)])
    second.upsert_edges([u for u in upserts if isinstance(u, EdgeUpsert)])
    assert list(second.dump()) == rows
    first.close()
    second.close()
