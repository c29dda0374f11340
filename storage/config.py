"""The stores' own typed settings: a section per backend, and which backend to open.

Each backend owns its section (as Feast's online stores own theirs) and takes
only that. The application's settings tree (:mod:`fleetgraph.settings`) holds a
:class:`StoreConfig` and fills it from the ``FLEETGRAPH_*`` environment; the
store factory (:mod:`fleetgraph.storage.factory`) opens the backend it names.
Built directly (``CassandraConfig(port=9043)``), a section reads no environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

StoreKind = Literal["embedded", "cassandra"]
STORE_KINDS: tuple[StoreKind, ...] = ("embedded", "cassandra")
# the driver's ConsistencyLevel names a store reads and writes at
Consistency = Literal["ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM",
                      "LOCAL_ONE"]


class EmbeddedConfig(BaseModel):
    """The embedded store: one SQLite file."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    sqlite_file: Path | None = None
    data_dir: Path = Path(".fleetgraph")
    # SQLite's page cache a connection keeps in the process: the pages read last are
    # served without a system call (a store of several GiB: give it what the reads touch)
    cache_mib: int = Field(default=64, ge=1, le=1 << 20)

    @property
    def sqlite_path(self) -> Path:
        """The file: ``sqlite_file``, else ``<data_dir>/graph.sqlite``."""
        return self.sqlite_file or self.data_dir / "graph.sqlite"


class CassandraConfig(BaseModel):
    """The Cassandra store: where the cluster is and how its keyspaces are made."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    hosts: str = "127.0.0.1"  # comma-separated contact points
    port: int = 9042
    local_dc: str = "datacenter1"
    keyspace_prefix: str = "fg_"
    # a CQL replication map, or a plain number N: SimpleStrategy with N copies
    replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    # LOCAL_QUORUM is ONE on one node; on a cluster with 3 copies, 2 of them (QUORUM
    # in one data centre): a node may be down, and a read sees every acknowledged write
    read_consistency: Consistency = "LOCAL_QUORUM"
    write_consistency: Consistency = "LOCAL_QUORUM"

    @field_validator("replication")
    @classmethod
    def _replication(cls, value: str) -> str:
        value = value.strip()
        if value.isdigit():
            if int(value) < 1:
                raise ValueError("a replication factor is at least 1")
            return f"{{'class': 'SimpleStrategy', 'replication_factor': {int(value)}}}"
        if not (value.startswith("{") and value.endswith("}")):
            raise ValueError(f"{value!r} is neither a replication factor (a number) nor a CQL "
                             "replication map such as {'class': 'SimpleStrategy', "
                             "'replication_factor': 3}")
        return value

    @field_validator("read_consistency", "write_consistency", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def contact_points(self) -> list[str]:
        return [h.strip() for h in self.hosts.split(",") if h.strip()]

    @property
    def where(self) -> str:
        """``host,host:port``, for messages."""
        return f"{','.join(self.contact_points)}:{self.port}"


class StoreConfig(BaseModel):
    """Which backend to open, and each backend's section."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: StoreKind = "embedded"
    embedded: EmbeddedConfig = Field(default_factory=EmbeddedConfig)
    cassandra: CassandraConfig = Field(default_factory=CassandraConfig)
