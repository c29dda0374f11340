"""The Cassandra store's read models: derived rows kept beside the graph.

Keyspace ``<prefix>read_models``, table ``read_rows (model text, bucket int, key text,
value text, PRIMARY KEY ((model, bucket), key))``: a model's rows spread over BUCKETS
partitions by a hash of the key (``bucket_of``), so that no partition grows with the
fleet or its history. One partition per model (``read_model``, the layout before
2026-12-04) held the replicas rows of every item, 39 MiB at 1000 sites by 7 days and
growing with every artifact ever cached, all on the same replicas of the cluster;
spread, a partition holds a 64th (0.6 MiB there). Read by keys (the keys' buckets named
in the same SELECT, at most ``BUCKETS_PER_SELECT`` buckets and ``KEYS_PER_SELECT`` keys
a SELECT: ``key_reads``) or whole (every bucket). Not a graph namespace: ``dump`` and
the checksums leave it out (it is derived: ``fleetgraph read-models rebuild`` makes it
again from the graph); ``truncate`` and ``drop_schema`` include it.

A store made before the spread has its rows in ``read_model``, which this version
neither reads nor writes: ``fleetgraph storage init`` adds ``read_rows`` and
``fleetgraph read-models rebuild`` fills it (until then the queries read the graph, as
for any row missing); ``DROP TABLE <prefix>read_models.read_model`` frees the old rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetgraph.storage.cassandra.schema import stable_bucket

KEYSPACE_SUFFIX = "read_models"
TABLE = "read_rows"
RETIRED_TABLE = "read_model"  # one partition per model: neither read nor written
NAMESPACE_PREFIX = "read_model_"  # count("read_model_<model>"): rows of one model
BUCKETS = 64  # partitions a model's rows spread over (fixed: it places written rows)
KEYS_PER_SELECT = 100  # keys of one "key IN ?" select
BUCKETS_PER_SELECT = 16  # partitions of one select (each is asked for all its keys)
ALL_BUCKETS = list(range(BUCKETS))


def bucket_of(key: str) -> int:
    """The partition of a model's row ``key``."""
    return stable_bucket(key, BUCKETS)


def key_reads(keys: Sequence[str]) -> list[tuple[list[int], list[str]]]:
    """The SELECTs that read ``keys`` (duplicates once): (buckets, keys) each, keys in
    bucket order, at most KEYS_PER_SELECT keys and BUCKETS_PER_SELECT buckets a SELECT
    (Cassandra looks every key up in every bucket named: at most 1,600 lookups)."""
    ordered = sorted(dict.fromkeys(keys), key=lambda k: (bucket_of(k), k))
    reads: list[tuple[list[int], list[str]]] = []
    buckets: list[int] = []
    group: list[str] = []
    for key in ordered:
        bucket = bucket_of(key)
        new_bucket = not buckets or buckets[-1] != bucket
        if group and (len(group) >= KEYS_PER_SELECT
                      or (new_bucket and len(buckets) >= BUCKETS_PER_SELECT)):
            reads.append((buckets, group))
            buckets, group, new_bucket = [], [], True
        if new_bucket:
            buckets.append(bucket)
        group.append(key)
    if group:
        reads.append((buckets, group))
    return reads


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
                f"CREATE TABLE IF NOT EXISTS {self.qualified} (model text, bucket int, key "
                "text, value text, PRIMARY KEY ((model, bucket), key)) WITH comment = "
                f"'derived read models, buckets={BUCKETS} (fleetgraph read-models rebuild)'")
        return statements

    @property
    def insert_cql(self) -> str:
        return f"INSERT INTO {self.qualified} (model, bucket, key, value) VALUES (?, ?, ?, ?)"

    @property
    def delete_cql(self) -> str:
        return f"DELETE FROM {self.qualified} WHERE model = ? AND bucket = ? AND key = ?"

    @property
    def select_all_cql(self) -> str:
        """A model's rows, every bucket (``bucket IN ?``: ALL_BUCKETS)."""
        return f"SELECT key, value FROM {self.qualified} WHERE model = ? AND bucket IN ?"

    @property
    def select_keys_cql(self) -> str:
        return (f"SELECT key, value FROM {self.qualified} WHERE model = ? AND bucket IN ? "
                "AND key IN ?")

    @property
    def count_cql(self) -> str:
        return (f"SELECT count(*) FROM {self.qualified} WHERE model = %s AND bucket IN "
                f"({', '.join(map(str, ALL_BUCKETS))})")
