"""A small simulated fleet, its messages, and the embedded runner's graph of them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.embedded import SQLiteGraphStore

END_US = 1_763_700_000_000_000  # 2025-11-21T04:40:00Z


def config(end_us: int = END_US) -> SimulationConfig:
    return SimulationConfig(seed=5, sites=3, hours=3.0, end_time_us=end_us, malformed_rate=0.01)


@cache
def fleet_messages(end_us: int = END_US) -> tuple[tuple[str, bytes, str | None], ...]:
    """(source topic, payload, defect) in arrival order."""
    codec = load_event_codec()
    return tuple((str(t), p, d) for t, p, d in simulate_messages(config(end_us), codec))


@dataclass
class EmbeddedRun:
    store: SQLiteGraphStore
    dead_letters: DeadLetterList


def run_embedded_on(messages: list[tuple[str, bytes, str | None]], path: Path | str,
                    validator: Validator | None = None) -> EmbeddedRun:
    """The embedded runner's result on the messages (sources ``sim:<index>``)."""
    store = SQLiteGraphStore(FLEET, path)
    dead_letters = DeadLetterList()
    pipeline = Pipeline.for_fleet(StoreSink(store), dead_letters, validator=validator)
    materialized = [Message(t, p, f"sim:{i}") for i, (t, p, _) in enumerate(messages)]
    run_embedded(pipeline, lambda: materialized)
    return EmbeddedRun(store, dead_letters)
