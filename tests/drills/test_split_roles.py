"""Split roles: a ``process`` worker (source topics to graph topics) and a ``sink``
worker (graph topics to the store, on the store consumer group) store the same graph
as the embedded runner on the same messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import ensure_topics
from fleetgraph.storage.checksum import digest_differences
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.drills.harness import PARTITIONS, Drill, digests, recent_config, simulated
from tests.kafka.fleet import run_embedded_on
from tests.kafka.graph_rows import differences, rows_without_source

pytestmark = pytest.mark.integration


def test_a_process_worker_and_a_sink_worker_store_the_embedded_graph(
    drill: Drill, tmp_path: Path
) -> None:
    messages = simulated(recent_config(sites=4, hours=2.0))
    reference = run_embedded_on(messages, tmp_path / "reference.sqlite")
    expected = digests(reference.store)
    assert sum(d.rows for d in expected.values()) > 1_000

    settings = drill.settings
    assert ensure_topics(settings.kafka.bootstrap, drill.names, FLEET, PARTITIONS) == PARTITIONS
    assert publish_messages(settings, [(t, p) for t, p, _ in messages]) == len(messages)
    db = tmp_path / "graph.sqlite"

    process = drill.start_worker("--role", "process", "--exit-when-idle", "5")
    assert drill.wait_exit(process, 300) == 0, drill.log_of(process)
    received = re.search(r"'received': (\d+)", drill.log_of(process))
    assert received and int(received.group(1)) >= len(messages), drill.log_of(process)
    with SQLiteGraphStore(FLEET, db) as untouched:
        assert all(d.rows == 0 for d in digests(untouched).values()), "process stored something"

    sink = drill.start_worker("--role", "sink", "--db", str(db), "--exit-when-idle", "5")
    assert drill.wait_exit(sink, 300) == 0, drill.log_of(sink)
    assert "fleetgraph store assignment" in drill.log_of(sink, tail=200_000)

    with SQLiteGraphStore(FLEET, db) as stored:
        diff = digest_differences(expected, digests(stored))
        detail = differences(rows_without_source(reference.store), rows_without_source(stored))
    assert diff == [], "\n".join(diff + detail)
