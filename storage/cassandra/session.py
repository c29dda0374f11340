"""The cluster connection, from the store's CassandraConfig, and the one place driver errors become
StorageError."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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

from fleetgraph.storage.base import StorageError
from fleetgraph.storage.config import CassandraConfig

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
