"""The embedded store read out for a copy (storage/embedded/export.py) and the bulk
writer's close message (storage/cassandra/bulk.py). No server needed.

The exported upserts, written into an empty store, give the source's rows back
(its own ``dump()``, the same property event times, provenance and creation); the
exported history writes are the rows of the source's history table as SQLite
holds them; the file is only read."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.storage.cassandra.bulk import RowEncoder
from fleetgraph.storage.cassandra.schema import WIDE_EDGES, EdgeNamespace, NodeNamespace
from fleetgraph.storage.cassandra.writes import plan_edge, plan_node
from fleetgraph.storage.embedded import SQLiteGraphStore
from fleetgraph.storage.embedded.export import StoreExport
from fleetgraph.storage.embedded.store import history_values

NOW = time.time_ns() // 1000
S = 1_000_000


def fill(store: SQLiteGraphStore) -> None:
    p1 = Provenance("e1", "t/0/1", NOW - 90 * S, "w")
    p2 = Provenance("e2", "t/0/2", NOW - 60 * S, "w")
    p3 = Provenance("e3", "t/0/3", NOW - 30 * S, "w")
    store.upsert_nodes([
        NodeUpsert("cdu", "cdu:s1-c1", {"status": "ok", "capacity_kw": 100.0}, NOW - 90 * S, p1),
        NodeUpsert("cdu", "cdu:s1-c1", {"status": "fault"}, NOW - 60 * S, p2),
        NodeUpsert("server", "server:s1-r1-n01", {"gpus": 8}, NOW - 90 * S, p1),
    ])
    store.upsert_edges([
        EdgeUpsert("in_rack", "server:s1-r1-n01", "rack:s1-r1", {}, NOW - 90 * S, p1),
        EdgeUpsert("ran_on", "job:j1", "server:s1-r1-n01",
                   {"valid_from": NOW - 90 * S, "valid_to": None}, NOW - 90 * S, p1),
        EdgeUpsert("ran_on", "job:j1", "server:s1-r1-n01", {"valid_to": NOW - 30 * S},
                   NOW - 30 * S, p3),
        EdgeUpsert("cached_at", "artifact:a", "site:s1",
                   {"valid_from": NOW - 90 * S}, NOW - 90 * S, p1),
        EdgeUpsert("cached_at", "artifact:a", "site:s1", {"valid_to": NOW - 60 * S},
                   NOW - 60 * S, p2),
        EdgeUpsert("cached_at", "artifact:b", "site:s1", {"valid_from": NOW - 30 * S},
                   NOW - 30 * S, p3),
    ])


def test_exported_upserts_rebuild_the_source_rows(tmp_path: Path) -> None:
    source = SQLiteGraphStore(FLEET, tmp_path / "a.sqlite")
    fill(source)
    export = StoreExport(tmp_path / "a.sqlite", FLEET)  # while the store holds it open
    batches = list(export.live(batch=2))
    assert all(len(b) <= 2 for _, _, b in batches)
    kinds = [(node, name) for node, name, _ in batches]
    assert kinds == sorted(set(kinds), key=kinds.index)  # type by type, each once
    copy = SQLiteGraphStore(FLEET, tmp_path / "b.sqlite")
    for node, _, batch in batches:
        if node:
            copy.upsert_nodes([u for u in batch if isinstance(u, NodeUpsert)])
        else:
            copy.upsert_edges([u for u in batch if isinstance(u, EdgeUpsert)])
    assert list(copy.dump()) == list(source.dump())
    assert export.counts()["edge_ran_on"] == 1 and export.counts()["hist_cached_at"] == 3
    export.close()
    source.close()
    copy.close()


def test_exported_history_is_the_stored_history(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    store = SQLiteGraphStore(FLEET, path)
    fill(store)
    store.close()
    before = path.read_bytes()
    export = StoreExport(path, FLEET)
    got = [(edge_type, w) for edge_type, writes in export.history(batch=2) for w in writes]
    export.close()
    assert {edge_type for edge_type, _ in got} == {"cached_at"}
    table = export.history_tables["cached_at"]
    with sqlite3.connect(path) as db:
        stored = db.execute(f"SELECT {', '.join(table.columns)} FROM {table.name}").fetchall()
    assert sorted(history_values(table, w) for _, w in got) == sorted(stored)
    assert len(stored) == 3
    assert path.read_bytes() == before  # only read


def test_close_sends_a_tables_gathered_rows_then_closes_it() -> None:
    prov = Provenance("e1", "log:1", NOW - 50 * S, "test")
    servers = NodeNamespace.for_type("t_", FLEET.node("server"))
    ran_on = EdgeNamespace.for_type("t_", FLEET.edge("ran_on"), WIDE_EDGES)
    node = NodeUpsert("server", "server:1", {"gpus": 8}, NOW - 50 * S, prov)
    edge = EdgeUpsert("ran_on", "job:1", "server:1", {"valid_from": NOW - 50 * S},
                      NOW - 50 * S, prov)
    encoder = RowEncoder(rows_per_message=100)
    declared = encoder.add(plan_node(servers.nodes, node, NOW) + plan_edge(ran_on, edge, NOW))
    tids = {json.loads(line)[3]: json.loads(line)[1] for line in declared
            if json.loads(line)[0] == "table"}
    lines = [json.loads(line) for line in encoder.close([servers.nodes.qualified])]
    assert lines[-1] == ["close", [tids[servers.nodes.name]]]
    sent = [line for line in lines if line[0] == "rows"]
    assert sum(len(rows) for _, _, rows in sent) == len(plan_node(servers.nodes, node, NOW))
    # the edge's rows are still gathered, and go with the flush
    rest = [json.loads(line) for line in encoder.flush()]
    assert sum(len(line[2]) for line in rest) == len(plan_edge(ran_on, edge, NOW))
    assert encoder.rows == len(plan_node(servers.nodes, node, NOW)) + \
        len(plan_edge(ran_on, edge, NOW))
