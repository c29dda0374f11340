"""The Cassandra store's read models: derived rows kept beside the graph.

Keyspace ``<prefix>read_models``, table ``read_model (model text, key text, value
text, PRIMARY KEY (model, key))``: one partition per model (the pipeline's site
states: one row per site, ~1000 rows), read whole or by keys. Not a graph namespace:
``dump`` and the checksums leave it out (it is derived: ``fleetgraph read-models
rebuild`` makes it again from the graph); ``truncate`` and ``drop_schema`` include it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEYSPACE_SUFFIX = "read_models"
TABLE = "read_model"
NAMESPACE_PREFIX = "read_model_"  # count("read_model_<model>"): rows of one model
KEYS_PER_SELECT = 100  # keys of one "key IN ?" select


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
                f"CREATE TABLE IF NOT EXISTS {self.qualified} (model text, key text, value "
                "text, PRIMARY KEY (model, key)) WITH comment = 'derived read models "
                "(fleetgraph read-models rebuild)'")
        return statements

    @property
    def insert_cql(self) -> str:
        return f"INSERT INTO {self.qualified} (model, key, value) VALUES (?, ?, ?)"

    @property
    def delete_cql(self) -> str:
        return f"DELETE FROM {self.qualified} WHERE model = ? AND key = ?"

    @property
    def select_all_cql(self) -> str:
        return f"SELECT key, value FROM {self.qualified} WHERE model = ?"

    @property
    def select_keys_cql(self) -> str:
        return f"SELECT key, value FROM {self.qualified} WHERE model = ? AND key IN ?"

    @property
    def count_cql(self) -> str:
        return f"SELECT count(*) FROM {self.qualified} WHERE model = %s"
