"""What the embedded (SQLite) backend does beyond the contract suite: its schema's
lifecycle on a file, and SQLite's errors mapped to the store's."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Provenance
from fleetgraph.graph_model.types import NodeType, Prop, PropKind
from fleetgraph.storage.base import StorageError, StorageUnavailable
from fleetgraph.storage.embedded import SQLiteGraphStore

NOW = 1_763_000_000_000_000


def cdu(node_id: str, t: int = NOW) -> NodeUpsert:
    return NodeUpsert("cdu", node_id, {"status": "ok"}, t, Provenance("e", "s", t, "test"))


def test_the_schema_is_made_once_checked_and_left_alone_when_trusted(tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite"
    with SQLiteGraphStore(FLEET, path, schema="trust") as bare:
        assert bare.describe().namespaces == ()
        assert all(line.endswith(" 0 rows") for line in bare.describe().lines
                   if line.endswith(" rows"))
    with pytest.raises(StorageError, match="does not match the registry"):
        SQLiteGraphStore(FLEET, path, schema="check")
    with SQLiteGraphStore(FLEET, path, schema="trust") as store:
        ran = store.init_schema()
        assert any(sql.startswith("CREATE TABLE IF NOT EXISTS node_cdu ") for sql in ran)
        assert store.init_schema() == []
        store.upsert_nodes([cdu("cdu:c1")])
    with SQLiteGraphStore(FLEET, path, schema="check") as checked:
        assert checked.count("node_cdu") == 1
        assert len(checked.describe().namespaces) == len(FLEET.nodes) + len(FLEET.edges)


def test_a_newly_declared_property_is_added_as_a_column(tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite"
    SQLiteGraphStore(FLEET, path).close()
    grown = dataclasses.replace(FLEET, nodes=dict(FLEET.nodes))
    cdu_type = FLEET.nodes["cdu"]
    grown.nodes["cdu"] = NodeType.declare(
        "cdu", [*cdu_type.props, Prop("vendor", PropKind.STRING)])
    with SQLiteGraphStore(grown, path, schema="trust") as store:
        assert store.init_schema() == ["ALTER TABLE node_cdu ADD COLUMN p_vendor TEXT",
                                       "ALTER TABLE node_cdu ADD COLUMN t_vendor INTEGER"]
        assert store.init_schema() == []


def test_describe_counts_rows_and_the_history_of_edges_with_a_live_ttl(tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite"
    with SQLiteGraphStore(FLEET, path) as store:
        store.upsert_nodes([cdu("cdu:c1"), cdu("cdu:c2")])
        layout = store.describe()
    assert f"{'node_cdu':<24} {2:>12,} rows" in layout.lines
    assert layout.summary == f"{len(FLEET.nodes) + len(FLEET.edges)} namespaces in {path}"
    kept = [t for t in FLEET.edges.values() if t.keeps_history and t.ttl_seconds]
    assert sum("; history hist_" in line for line in layout.lines) == len(kept)


def test_a_locked_file_is_unavailable_not_a_refusal(tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite"
    store = SQLiteGraphStore(FLEET, path)
    store._db.execute("PRAGMA busy_timeout = 50")  # fail fast instead of waiting 5 s
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageUnavailable, match="database is locked") as raised:
            store.upsert_nodes([cdu("cdu:c1")])
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        with pytest.raises(StorageUnavailable, match="database is locked"):
            store.expire(NOW)
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.upsert_nodes([cdu("cdu:c1")])  # the lock gone, the store takes writes again
    assert store.count("node_cdu") == 1
    store.close()


def test_a_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable, match="cannot open the embedded store") as raised:
        SQLiteGraphStore(FLEET, tmp_path / "no" / "such" / "folder" / "graph.sqlite")
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)


def test_a_value_sqlite_cannot_hold_is_a_refusal() -> None:
    store = SQLiteGraphStore(FLEET)
    huge = NodeUpsert("server", "server:n1", {"gpu_count": 2**70}, NOW,
                      Provenance("e", "s", NOW, "test"))
    with pytest.raises(StorageError) as raised:
        store.upsert_nodes([huge])
    assert not isinstance(raised.value, StorageUnavailable)
    store.upsert_nodes([cdu("cdu:c1")])
    assert store.count("node_cdu") == 1


def test_the_page_cache_is_the_configured_size(tmp_path: Path) -> None:
    """FLEETGRAPH_SQLITE_CACHE_MIB reaches the connection, through the settings and the
    factory as every command opens the store; the default stays 64 MiB."""
    from fleetgraph.core.errors import ConfigError
    from fleetgraph.settings import Settings
    from fleetgraph.storage.factory import open_store

    def cache_kib(store: object) -> int:
        assert isinstance(store, SQLiteGraphStore)
        return -int(store._db.execute("PRAGMA cache_size").fetchone()[0])

    settings = Settings.from_environ({"FLEETGRAPH_SQLITE_CACHE_MIB": "512",
                                      "FLEETGRAPH_DATA_DIR": str(tmp_path)})
    store = open_store(settings.store)
    assert cache_kib(store) == 512 * 1024
    store.close()
    store = SQLiteGraphStore(FLEET, tmp_path / "other.sqlite")
    assert cache_kib(store) == 64 * 1024
    store.close()
    with pytest.raises(ConfigError, match="FLEETGRAPH_SQLITE_CACHE_MIB"):
        Settings.from_environ({"FLEETGRAPH_SQLITE_CACHE_MIB": "0"})
