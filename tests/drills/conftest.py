"""The ``drill`` fixture: fresh topics and a consumer group on the test's Kafka."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.topics import delete_topics
from fleetgraph.settings import Settings
from tests.drills.harness import Drill
from tests.integration.test_kafka_pipeline import _kafka_bootstrap


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[Drill]:
    """A Drill on fresh topics (a random prefix; the broker may be shared); the
    workers are stopped and the topics deleted afterwards."""
    bootstrap = _kafka_bootstrap()
    prefix = f"fgdrill-{uuid.uuid4().hex[:8]}."
    settings = Settings().updated(
        kafka={"bootstrap": bootstrap, "topic_prefix": prefix, "consumer_group": f"{prefix}ingest"},
        ingest={"dedup_window_s": 1.0}, data_dir=tmp_path)
    run = Drill(settings, tmp_path)
    try:
        yield run
    finally:
        run.stop_all()
        if not os.environ.get("FLEETGRAPH_KEEP_DRILL_TOPICS"):  # kept to inspect a failure
            asyncio.run(delete_topics(bootstrap, [*run.names.all(FLEET),
                                                  f"{settings.kafka.consumer_group}-dedup-changelog"]))
