"""Drill: Cassandra is stopped and started again while a worker ingests into it.

A worker sinks a clean simulated stream into Cassandra (a keyspace prefix of
its own). Once it has stored part of the stream, the Cassandra of the test
stack (``stack_settings()``: the CI stack in CI) is stopped, the rest
of the stream is published, and Cassandra is started again. The sink must wait
the outage out (retrying, never dead-lettering) and the driver reconnect: the
stored graph must equal the embedded runner's on the same messages written to
another prefix of the same Cassandra, digest for digest, and the dead-letter
topic must stay empty.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.infra.stack import down, ensure_up, is_up, running_pid, stack_home, stack_settings
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import ensure_topics
from fleetgraph.schemas.topics import Topic
from fleetgraph.settings import StackSettings
from fleetgraph.storage.checksum import digest_differences
from tests.conftest import CassandraGraphs
from tests.drills.harness import (
    PARTITIONS,
    Drill,
    digests,
    digests_now,
    recent_config,
    simulated,
    stored_by_the_embedded_runner,
    wait_for,
)

pytestmark = pytest.mark.integration
CASSANDRA = "cassandra"


def _restartable(stack: StackSettings, port: int) -> None:
    """Fail (skip without FLEETGRAPH_REQUIRE_STACK=1) unless the tests' Cassandra is
    the stack's own JVM, the one server this drill may stop and start."""
    if running_pid(CASSANDRA, stack) is not None and stack.cassandra_port == port:
        return
    why = (f"the Cassandra on port {port} was not started from the stack home "
           f"{stack_home(stack)} (port {stack.cassandra_port}); the drill restarts only the "
           "stack's own server")
    if os.environ.get("FLEETGRAPH_REQUIRE_STACK") == "1":
        pytest.fail(why)
    pytest.skip(why)


def test_cassandra_restarted_mid_ingest_loses_nothing(
    drill: Drill, tmp_path: Path, cassandra_graphs: CassandraGraphs
) -> None:
    points, port = cassandra_graphs.where()
    stack = stack_settings()
    _restartable(stack, port)
    messages = simulated(recent_config(sites=6, hours=4.0))
    reference, target = cassandra_graphs.store(), cassandra_graphs.store()
    try:
        expected = stored_by_the_embedded_runner(messages, reference)
        total = sum(d.rows for d in expected.values())
        assert total > 3000

        settings, names = drill.settings, drill.names
        assert ensure_topics(settings.kafka.bootstrap, names, FLEET, PARTITIONS) == PARTITIONS
        inventory = [(t, p) for t, p, _ in messages if t == Topic.INVENTORY]
        rest = [(t, p) for t, p, _ in messages if t != Topic.INVENTORY]
        assert publish_messages(settings, inventory) == len(inventory)
        worker = drill.start_worker("--store", "cassandra", env={
            "FLEETGRAPH_KEYSPACE_PREFIX": target.config.keyspace_prefix,
            "FLEETGRAPH_CASSANDRA_HOSTS": ",".join(points),
            "FLEETGRAPH_CASSANDRA_PORT": str(port),
            "FLEETGRAPH_STORE_RETRY_MAX_BACKOFF_S": "2"})

        def alive() -> str | None:
            return None if worker.poll() is None else f"worker died:\n{drill.log_of(worker)}"

        drill.wait_assigned(worker)
        half = len(rest) // 2
        assert publish_messages(settings, rest[:half]) == len(rest[:half])
        wait_for("the worker stores part of the stream",
                 lambda: sum(d.rows for d in (digests_now(target) or {}).values()) > 0,
                 120, alive=alive)

        began = time.monotonic()
        down(stack, only=[CASSANDRA])
        print(f"drill: Cassandra stopped in {time.monotonic() - began:.1f} s")
        assert not is_up(stack, only=[CASSANDRA])
        assert publish_messages(settings, rest[half:]) == len(rest[half:])
        wait_for("the sink meets the outage and retries",
                 lambda: "store unavailable" in drill.log_of(worker, tail=10**7), 120,
                 alive=alive)
        began = time.monotonic()
        ensure_up(settings=stack, only=[CASSANDRA], timeout=180)
        print(f"drill: Cassandra answering again in {time.monotonic() - began:.1f} s")

        def explain() -> str:
            now = digests_now(target)
            diff = digest_differences(expected, now) if now else ["(store unreadable)"]
            return "\n".join(diff) + "\n" + drill.log_of(worker)

        wait_for("the stored graph is the reference's",
                 lambda: digests_now(target) == expected, 240, every_s=3, alive=alive,
                 detail=explain)
        assert digest_differences(expected, digests(target)) == []
        log = drill.log_of(worker, tail=10**7)
        assert "store back" in log and "store_error" not in log
        assert drill.dead_letters() == []
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, drill.log_of(worker)
    finally:
        if not is_up(stack, only=[CASSANDRA]):  # the rest of the session needs it
            ensure_up(settings=stack, only=[CASSANDRA], timeout=180)
        # the stores' sessions were made before the restart: on a loaded machine their
        # drivers may still be reconnecting when the drill ends
        for store in (target, reference):
            wait_for("a store's session reconnects", lambda s=store: digests_now(s) is not None,
                     180, every_s=2)
        cassandra_graphs.release(target, written_elsewhere=True)  # by the worker
        cassandra_graphs.release(reference)
