"""The cluster connection, from the store's CassandraConfig, and the exception mapper:
the one place driver errors become the store's (as JanusGraph's CQL adapter maps its
driver's exceptions).

An error that says the cluster cannot be reached or cannot answer now (no host, a
connection lost, a timeout, too few replicas up, a coordinator failure) becomes
StorageUnavailable, an outage to wait out; one that says the request itself is wrong
(an invalid query, an unknown table, a missing permission) becomes StorageError.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from cassandra import (
    ConsistencyLevel,
    DriverException,
    ProtocolVersion,
    RequestValidationException,
)
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import ConnectionException
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import tuple_factory

from fleetgraph.storage.base import StorageError, StorageUnavailable
from fleetgraph.storage.config import CassandraConfig

DDL_PROFILE = "fleetgraph-ddl"
WRITE_PROFILE = "fleetgraph-write"  # the default profile reads; this one writes
REQUEST_TIMEOUT_S = 30.0
# a node that comes back is reconnected within this many seconds (the driver's default
# grows to 10 minutes, so a sink waiting out a restart would wait that long)
RECONNECT_MAX_S = 5.0
CONTROL_TIMEOUT_S = 10.0  # the control connection's reads (schema, topology)
SCHEMA_REFRESH_ATTEMPTS = 3
DDL_TIMEOUT_S = 120.0

# every exception the driver raises for a failed request or connection
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    DriverException,
    NoHostAvailable,
    ConnectionException,
)
# of those, the ones that say the cluster is out of reach (NoHostAvailable,
# OperationTimedOut, Unavailable, ReadTimeout, WriteTimeout, ConnectionException,
# ...; a socket's OSError too) unless the request is refused for what it is
OUTAGES: tuple[type[BaseException], ...] = (*DRIVER_ERRORS, OSError)
REFUSALS: tuple[type[BaseException], ...] = (RequestValidationException,)


def is_outage(error: BaseException) -> bool:
    """True when ``error``, or what caused it, says the cluster is out of reach, and
    nothing on the way says the request was refused."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, REFUSALS):
            return False
        if isinstance(link, OUTAGES):
            return True
        link = link.__cause__ or link.__context__
    return False


def storage_error(message: str, cause: BaseException) -> StorageError:
    """The store's error for a driver error: StorageUnavailable for an outage."""
    return (StorageUnavailable if is_outage(cause) else StorageError)(message)


@contextlib.contextmanager
def driver_errors(action: str, where: str) -> Iterator[None]:
    """Turn a driver error raised inside the block into the store's error
    (:func:`storage_error`), with the driver's as its ``__cause__``."""
    try:
        yield
    except OUTAGES as exc:
        raise storage_error(f"cassandra at {where}: {action} failed: {describe(exc)}",
                            exc) from exc


def refresh_schema(cluster: Any, where: str, attempts: int = SCHEMA_REFRESH_ATTEMPTS) -> None:
    """Read the cluster's schema again (after DDL, or to check it), asking up to
    ``attempts`` times: one timed-out read of system_schema under load is not an
    outage. The last failure is the store's error."""
    for attempt in range(1, attempts + 1):
        try:
            with driver_errors("reading the schema", where):
                cluster.refresh_schema_metadata()
            return
        except StorageError:
            if attempt == attempts:
                raise
            time.sleep(attempt)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def connect(config: CassandraConfig) -> tuple[Any, Any]:
    """A connected (Cluster, Session): protocol v5, token-aware routing inside the
    local data centre, reads and writes at the config's consistency levels
    (LOCAL_QUORUM by default; schema changes at LOCAL_QUORUM), rows as tuples,
    reconnecting to a node that was down within ``RECONNECT_MAX_S``."""
    routing = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=config.local_dc))
    default = ExecutionProfile(
        load_balancing_policy=routing,
        consistency_level=getattr(ConsistencyLevel, config.read_consistency),
        request_timeout=REQUEST_TIMEOUT_S,
        row_factory=tuple_factory,
    )
    write = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=config.local_dc)),
        consistency_level=getattr(ConsistencyLevel, config.write_consistency),
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
        execution_profiles={EXEC_PROFILE_DEFAULT: default, DDL_PROFILE: ddl,
                            WRITE_PROFILE: write},
        connect_timeout=10,
        # reading system_schema of a cluster holding many keyspaces on a loaded machine
        # outlasts the driver's default 2 s, and the schema then "was not refreshed"
        control_connection_timeout=CONTROL_TIMEOUT_S,
        reconnection_policy=ExponentialReconnectionPolicy(0.5, RECONNECT_MAX_S, max_attempts=None),
    )
    try:
        with driver_errors("connect", config.where):
            session = cluster.connect()
    except StorageError:
        cluster.shutdown()
        raise
    return cluster, session
