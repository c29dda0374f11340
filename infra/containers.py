"""Kafka and Cassandra for tests: testcontainers when a Docker engine answers,
the Maven-fetched local stack (``fleetgraph.infra.stack``) otherwise.

Machines without a Docker engine (like the project's CI) use the local stack;
developers with Docker get throwaway containers. Either way a test gets the
same ``StackEndpoints``.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from typing import Any

from fleetgraph.infra.stack import SERVERS, StackEndpoints, endpoints, ensure_up, stack_settings

_started: dict[str, Any] = {}


def docker_engine_answers() -> bool:
    """True when a Docker engine answers a ping (not just a client installed)."""
    if stack_settings().no_docker:
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no engine, no socket, no permission: all mean "no"
        return False


def _start_containers(servers: Sequence[str]) -> StackEndpoints:
    defaults = endpoints()
    kafka, cassandra = defaults.kafka_bootstrap_servers, defaults.cassandra_contact_points
    port = defaults.cassandra_port
    if "kafka" in servers and "kafka" not in _started:
        from testcontainers.kafka import KafkaContainer

        _started["kafka"] = KafkaContainer().with_kraft().start()
    if "kafka" in _started:
        kafka = _started["kafka"].get_bootstrap_server()
    if "cassandra" in servers and "cassandra" not in _started:
        from testcontainers.cassandra import CassandraContainer

        _started["cassandra"] = CassandraContainer("cassandra:5.0").start()
    if "cassandra" in _started:
        host, port = _started["cassandra"].get_contact_points()[0]
        cassandra = (host,)
    atexit.register(_stop_all)
    return StackEndpoints(kafka, tuple(cassandra), int(port))


def _stop_all() -> None:
    while _started:
        _, container = _started.popitem()
        container.stop()


def endpoints_for_tests(only: Sequence[str] = SERVERS) -> StackEndpoints:
    """Servers for integration tests, started if needed (containers or local stack)."""
    if docker_engine_answers():
        return _start_containers(only)
    return ensure_up(only=list(only))
