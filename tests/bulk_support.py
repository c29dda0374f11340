"""What the bulk-path integration tests share: a simulated fleet's log as it arrives in
practice (shuffled in blocks, some messages delivered twice), and the bulk writer's
tools, which need the local stack's Cassandra jars."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from fleetgraph.infra.stack import CASSANDRA, is_fetched
from fleetgraph.ingest.sources.eventlog import write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.simulator import SimulationConfig, simulate_messages


def shuffled_archive(config: SimulationConfig, seed: int, path: Path) -> Path:
    """The fleet's messages, shuffled in blocks of 200 (events arrive late and early,
    across the dedup window), with every tenth message delivered twice, written to
    ``path`` as an event log."""
    messages = [(str(t), p) for t, p, _ in simulate_messages(config, load_event_codec())]
    rng = random.Random(seed)
    blocks = [messages[i:i + 200] for i in range(0, len(messages), 200)]
    for block in blocks:
        rng.shuffle(block)
    rng.shuffle(blocks)
    shuffled = [m for block in blocks for m in block]
    shuffled += shuffled[::10]
    write_event_log(path, shuffled)
    return path


def bulk_tools() -> object:
    """The SSTable writer's tools; fails (not skips) without the Cassandra jars when the
    stack is required (FLEETGRAPH_REQUIRE_STACK=1 or CI)."""
    if not is_fetched(CASSANDRA):
        message = ("the local stack's Cassandra jars are not fetched (`fleetgraph stack "
                   "fetch`): the bulk writer runs on them")
        if os.environ.get("FLEETGRAPH_REQUIRE_STACK") == "1" or os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from fleetgraph.infra.bulk import bulk_tools as tools

    return tools()
