"""The Cassandra store's read models: derived rows kept beside the graph.

Keyspace ``<prefix>read_models``, table ``read_model_rows (model text, bucket int, key
text, value text, PRIMARY KEY ((model, bucket), key))``, read whole or by keys. Not a
graph namespace: ``dump`` and the checksums leave it out (it is derived: ``fleetgraph
read-models rebuild`` makes it again from the graph); ``truncate`` and ``drop_schema``
include it.

A read model whose rows grow with the fleet's history is spread over :data:`SPREAD`
buckets (partitions), by a hash of its key's *group*: the key up to its first space or
``#`` (a model's rows by site, ``"<model id> <site id>"``, and a dataset's chunks of
places, ``"<dataset id>#<n>"``, stay in one partition: a query reads one; an item's
replicas, keyed by the item, spread). The others (a site's state, a model's ranking:
one row per site or model, read many at a time by the scheduler) keep one partition.
At 7 days of the 1000-site fleet the largest read model (``replicas``) is 39 MiB: in
one partition it would pass Cassandra's 100 MiB guideline within a month.

The first layout (``read_model``, one partition per read model) is no longer read or
written; ``fleetgraph read-models rebuild`` fills this one (docs/queries.md).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

KEYSPACE_SUFFIX = "read_models"
TABLE = "read_model_rows"
NAMESPACE_PREFIX = "read_model_"  # count("read_model_<model>"): rows of one model
KEYS_PER_SELECT = 100  # keys of one "key IN ?" select
# read models spread by key group, and into how many partitions (the others: one)
SPREAD: dict[str, int] = {"replicas": 32, "model_site_items": 16, "residency_places": 16}


def group_of(key: str) -> str:
    """The part of ``key`` that decides its partition: up to its first space or ``#``."""
    cut = len(key)
    for mark in (" ", "#"):
        at = key.find(mark)
        if 0 <= at < cut:
            cut = at
    return key[:cut]


def bucket_of(model: str, key: str) -> int:
    """The partition of ``key`` in ``model`` (0 for a read model kept in one)."""
    spread = SPREAD.get(model, 1)
    if spread == 1:
        return 0
    return zlib.crc32(group_of(key).encode()) % spread


def buckets_of(model: str) -> range:
    """The partitions of ``model``."""
    return range(SPREAD.get(model, 1))


def by_bucket(model: str, keys: Iterable[str]) -> dict[int, list[str]]:
    """``keys`` (in their order, once each) by partition."""
    found: dict[int, list[str]] = {}
    for key in dict.fromkeys(keys):
        found.setdefault(bucket_of(model, key), []).append(key)
    return found


@dataclass(frozen=True, slots=True)
class ReadModelTable:
    keyspace: str

    @classmethod
    def for_prefix(cls, prefix: str) -> ReadModelTable:
        return cls(f"{prefix}{KEYSPACE_SUFFIX}")

    @property
    def qualified(self) -> str:
        return f"{self.keyspace}.{TABLE}"

    def missing(self, keyspaces: Mapping[str, Any], replication: str) -> list[str]:
        """The DDL that makes the keyspace and table (``keyspaces``: the driver's
        ``cluster.metadata.keyspaces``); empty when both are there."""
        keyspace = keyspaces.get(self.keyspace)
        statements: list[str] = []
        if keyspace is None:
            statements.append(
                f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = {replication}")
        if keyspace is None or TABLE not in keyspace.tables:
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {self.qualified} (model text, bucket int, "
                "key text, value text, PRIMARY KEY ((model, bucket), key)) WITH comment = "
                "'derived read models (fleetgraph read-models rebuild)'")
        return statements

    @property
    def insert_cql(self) -> str:
        return f"INSERT INTO {self.qualified} (model, bucket, key, value) VALUES (?, ?, ?, ?)"

    @property
    def delete_cql(self) -> str:
        return f"DELETE FROM {self.qualified} WHERE model = ? AND bucket = ? AND key = ?"

    @property
    def select_all_cql(self) -> str:
        return f"SELECT key, value FROM {self.qualified} WHERE model = ? AND bucket = ?"

    @property
    def select_keys_cql(self) -> str:
        return (f"SELECT key, value FROM {self.qualified} WHERE model = ? AND bucket = ? "
                "AND key IN ?")

    @property
    def count_cql(self) -> str:
        return f"SELECT count(*) FROM {self.qualified} WHERE model = %s AND bucket = %s"
