"""The Cassandra store's read models spread over partitions (storage/cassandra/
read_models.py): a model's rows by a hash of the key, so that no partition grows with the
fleet or its history; read by keys in few SELECTs, or whole; a store made before the
spread is told to run ``storage init``. The rows themselves (written, replaced, deleted,
read) are the contract of every backend: tests/storage/test_read_models_store.py."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from fleetgraph.storage.base import StorageError
from fleetgraph.storage.cassandra import CassandraGraphStore
from fleetgraph.storage.cassandra.read_models import (
    BUCKETS,
    BUCKETS_PER_SELECT,
    KEYS_PER_SELECT,
    bucket_of,
    key_reads,
)
from tests.conftest import CassandraGraphs


@pytest.fixture
def cassandra(cassandra_graphs: CassandraGraphs) -> Iterator[CassandraGraphStore]:
    store = cassandra_graphs.store()
    yield store
    cassandra_graphs.release(store)


@pytest.mark.parametrize("count", [0, 1, 10, 16, 17, 223, 1000, 5507])
def test_every_key_is_read_once_in_a_select_naming_its_bucket(count: int) -> None:
    rng = random.Random(count)
    keys = [f"artifact:sha256-{rng.getrandbits(64):016x}" for _ in range(count)]
    asked = keys + keys[: count // 3]  # duplicates are read once
    reads = key_reads(asked)
    read = [k for _, group in reads for k in group]
    assert sorted(read) == sorted(set(keys))
    for buckets, group in reads:
        assert len(group) <= KEYS_PER_SELECT and len(buckets) <= BUCKETS_PER_SELECT
        assert {bucket_of(k) for k in group} == set(buckets)
    # as few SELECTs as the limits allow, give or take one per bucket boundary
    spread = len({bucket_of(k) for k in keys})
    assert len(reads) <= max(count / KEYS_PER_SELECT, spread / BUCKETS_PER_SELECT) + 2


def test_a_models_rows_spread_over_every_bucket(cassandra: CassandraGraphStore) -> None:
    rows = {f"artifact:a{i:05d}": f"v{i}" for i in range(2000)}
    cassandra.put_read_models("replicas", rows)
    cassandra.put_read_models("site_order", {"index": "one row"})
    table = cassandra._read_models.qualified
    partitions = list(cassandra.session.execute(
        f"SELECT DISTINCT model, bucket FROM {table}"))
    replicas = [bucket for model, bucket in partitions if model == "replicas"]
    assert sorted(replicas) == list(range(BUCKETS))  # 2000 keys reach every bucket
    per_bucket = [0] * BUCKETS
    for key in rows:
        per_bucket[bucket_of(key)] += 1
    assert max(per_bucket) < 3 * len(rows) / BUCKETS  # none holds much more than its share
    assert cassandra.get_read_models("replicas") == rows
    asked = [f"artifact:a{i:05d}" for i in range(0, 2000, 7)] + ["artifact:none"]
    assert cassandra.get_read_models("replicas", asked) == {k: rows[k] for k in asked[:-1]}
    assert cassandra.count("read_model_replicas") == len(rows)
    cassandra.put_read_models("replicas", dict.fromkeys(asked[:-1]))
    assert cassandra.get_read_models("replicas", asked) == {}
    assert cassandra.count("read_model_replicas") == len(rows) - len(asked) + 1
    assert cassandra.get_read_models("site_order") == {"index": "one row"}


def test_a_store_made_before_the_spread_is_told_to_run_storage_init(
    cassandra: CassandraGraphStore,
) -> None:
    table = cassandra._read_models
    cassandra.session.execute(f"DROP TABLE {table.qualified}")  # as a store of before
    cassandra.session.execute(
        f"CREATE TABLE {table.keyspace}.read_model (model text, key text, value text, "
        "PRIMARY KEY (model, key))")
    cassandra.session.cluster.refresh_schema_metadata()
    with pytest.raises(StorageError, match="storage init"):
        cassandra.check_schema()
    made = cassandra.init_schema()
    assert any("read_rows" in cql for cql in made)
    cassandra.check_schema()
    cassandra.put_read_models("site_state", {"site:a": "1"})
    assert cassandra.get_read_models("site_state") == {"site:a": "1"}
