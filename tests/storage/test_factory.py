"""The store factory: one map from kind to opener, and what is missing before opening."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetgraph.core.errors import ConfigError
from fleetgraph.storage.config import EmbeddedConfig, StoreConfig
from fleetgraph.storage.embedded import SQLiteGraphStore
from fleetgraph.storage.factory import OPENERS, STORES, missing_graph, open_store


def test_every_kind_has_one_opener() -> None:
    assert set(OPENERS) == set(STORES) == {"embedded", "cassandra"}


def test_an_unknown_kind_is_refused_with_the_kinds() -> None:
    with pytest.raises(ConfigError,
                       match="unknown store 'neo4j'; choose one of embedded, cassandra"):
        open_store(StoreConfig(), kind="neo4j")


def test_the_embedded_store_opens_its_own_file(tmp_path: Path) -> None:
    config = StoreConfig(embedded=EmbeddedConfig(data_dir=tmp_path / "data"))
    assert missing_graph(config) == f"no store at {tmp_path / 'data' / 'graph.sqlite'}"
    with open_store(config) as store:
        assert isinstance(store, SQLiteGraphStore)
    assert missing_graph(config) is None
    other = tmp_path / "other.sqlite"
    assert missing_graph(config, sqlite_path=other) == f"no store at {other}"


def test_a_cassandra_graph_is_checked_when_opened_not_before() -> None:
    assert missing_graph(StoreConfig(kind="cassandra")) is None
