"""The cluster connection, from settings, and the one place driver errors become
StorageError."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from cassandra import ConsistencyLevel, DriverException, ProtocolVersion
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import ConnectionException
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import tuple_factory

from fleetgraph.settings import Settings
from fleetgraph.storage.base import StorageError

DDL_PROFILE = "fleetgraph-ddl"
REQUEST_TIMEOUT_S = 30.0
# a node that comes back is reconnected within this many seconds (the driver's default
# grows to 10 minutes, so a sink waiting out a restart would wait that long)
RECONNECT_MAX_S = 5.0
DDL_TIMEOUT_S = 120.0

# every exception the driver raises for a failed request or connection
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    DriverException,
    NoHostAvailable,
    ConnectionException,
)


@dataclass(frozen=True)
class CassandraConfig:
    """Where the cluster is and how fleetgraph's keyspaces are named and replicated."""

    contact_points: tuple[str, ...] = ("127.0.0.1",)
    port: int = 9042
    local_dc: str = "datacenter1"
    keyspace_prefix: str = "fg_"
    replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> CassandraConfig:
        config = cls(
            tuple(settings.store.cassandra.contact_points),
            settings.store.cassandra.port,
            settings.store.cassandra.local_dc,
            settings.store.cassandra.keyspace_prefix,
            settings.store.cassandra.replication,
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if "contact_points" in given:
            given["contact_points"] = tuple(given["contact_points"])
        return replace(config, **given)

    @property
    def where(self) -> str:
        return f"{','.join(self.contact_points)}:{self.port}"


@contextlib.contextmanager
def driver_errors(action: str, where: str) -> Iterator[None]:
    """Turn a driver error raised inside the block into a StorageError."""
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise StorageError(f"cassandra at {where}: {action} failed: {describe(exc)}") from exc


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def connect(config: CassandraConfig) -> tuple[Any, Any]:
    """A connected (Cluster, Session): protocol v5, token-aware routing inside the
    local data centre, LOCAL_QUORUM, rows as tuples, reconnecting to a node that was
    down within ``RECONNECT_MAX_S``."""
    routing = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=config.local_dc))
    default = ExecutionProfile(
        load_balancing_policy=routing,
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=REQUEST_TIMEOUT_S,
        row_factory=tuple_factory,
    )
    ddl = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=config.local_dc)),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=DDL_TIMEOUT_S,
        row_factory=tuple_factory,
    )
    cluster = Cluster(
        list(config.contact_points),
        port=config.port,
        protocol_version=ProtocolVersion.V5,
        execution_profiles={EXEC_PROFILE_DEFAULT: default, DDL_PROFILE: ddl},
        connect_timeout=10,
        reconnection_policy=ExponentialReconnectionPolicy(0.5, RECONNECT_MAX_S, max_attempts=None),
    )
    try:
        with driver_errors("connect", config.where):
            session = cluster.connect()
    except StorageError:
        cluster.shutdown()
        raise
    return cluster, session
