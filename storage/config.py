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

from pydantic import BaseModel, ConfigDict, Field

StoreKind = Literal["embedded", "cassandra"]
STORE_KINDS: tuple[StoreKind, ...] = ("embedded", "cassandra")


class EmbeddedConfig(BaseModel):
    """The embedded store: one SQLite file."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    sqlite_file: Path | None = None
    data_dir: Path = Path(".fleetgraph")

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
    replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

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
