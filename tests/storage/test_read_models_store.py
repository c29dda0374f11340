"""The read-model rows every backend keeps beside the graph (GraphStore.put_read_models /
get_read_models): written, replaced, deleted, read by key or whole; kept apart from the
graph (not in dump, so not in the checksums), surviving init_schema."""

from __future__ import annotations

import time

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Provenance
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.checksum import graph_digests
from fleetgraph.storage.delegating import DelegatingStore

NOW = time.time_ns() // 1000


def test_rows_are_written_replaced_deleted_and_read_by_key(store: GraphStore) -> None:
    assert store.get_read_models("site_state") == {}
    store.put_read_models("site_state", {"site:a": "1", "site:b": "2", "site:c": "3"})
    store.put_read_models("site_free", {"site:a": "other model"})
    store.put_read_models("site_state", {"site:b": "2b", "site:c": None, "site:d": "4"})
    assert store.get_read_models("site_state") == {"site:a": "1", "site:b": "2b", "site:d": "4"}
    assert store.get_read_models("site_state", ["site:d", "site:c", "site:x", "site:d"]) == {
        "site:d": "4"}
    assert store.get_read_models("site_state", []) == {}
    assert store.get_read_models("site_free") == {"site:a": "other model"}
    assert store.count("read_model_site_state") == 3
    assert store.count("read_model_nothing") == 0


def test_many_keys_are_read_in_one_call(store: GraphStore) -> None:
    rows = {f"site:s{i:04d}": f"v{i}" * 20 for i in range(700)}
    store.put_read_models("site_state", rows)
    assert store.get_read_models("site_state") == rows
    keys = [f"site:s{i:04d}" for i in range(0, 700, 3)] + ["site:none"]
    assert store.get_read_models("site_state", keys) == {k: rows[k] for k in keys[:-1]}


def test_read_models_are_not_in_the_dump_and_survive_init_schema(store: GraphStore) -> None:
    prov = Provenance("e1", "test:0", NOW, "test")
    store.upsert_nodes([NodeUpsert("site", "site:a", {"region": "west"}, NOW, prov)])
    before = graph_digests(store, FLEET)
    dumped = list(store.dump())
    store.put_read_models("site_state", {"site:a": "{}"})
    assert graph_digests(store, FLEET) == before
    assert list(store.dump()) == dumped
    assert store.init_schema() == []
    assert store.get_read_models("site_state") == {"site:a": "{}"}
    assert any("read_model" in line for line in store.describe().lines)


def test_a_delegating_store_forwards_read_models(store: GraphStore) -> None:
    seen: list[str] = []

    class Seeing(DelegatingStore):
        def before(self, method: str, *details: object) -> None:
            seen.append(method)

    proxy = Seeing(store)
    proxy.put_read_models("m", {"k": "v"})
    assert proxy.get_read_models("m", ["k"]) == {"k": "v"}
    assert seen == ["put_read_models", "get_read_models"]
