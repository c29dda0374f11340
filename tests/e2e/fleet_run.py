"""One simulated fleet run through the embedded pipeline, shared by the e2e tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import RunReport, run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.schemas import load_event_codec
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.embedded import SQLiteGraphStore

END_US = 1_763_700_000_000_000  # 2025-11-21T04:40:00Z, fixed so runs repeat
CONFIG = SimulationConfig(seed=11, sites=12, hours=12.0, end_time_us=END_US,
                          malformed_rate=0.005)


@dataclass
class FleetRun:
    messages: list[Message]
    defects: dict[str, str]  # source position -> what is wrong with it
    clean_events: list[tuple[str, dict[str, Any]]]
    store: GraphStore
    dead_letters: DeadLetterList
    report: RunReport


def simulated_messages(config: SimulationConfig = CONFIG) -> tuple[list[Message], dict[str, str]]:
    messages, defects = [], {}
    for index, (topic, payload, defect) in enumerate(
        simulate_messages(config, load_event_codec())
    ):
        source = f"sim:{index}"
        messages.append(Message(str(topic), payload, source))
        if defect is not None:
            defects[source] = defect
    return messages, defects


def open_store(path: Path | str, clock_us: int = END_US) -> SQLiteGraphStore:
    return SQLiteGraphStore(FLEET, path, clock=lambda: clock_us)


def ingest_into(
    store: GraphStore, messages: Iterable[Message], clock_us: int = END_US
) -> tuple[DeadLetterList, RunReport]:
    """Run messages through a fresh pipeline into ``store``."""
    dead_letters = DeadLetterList()
    pipeline = Pipeline.for_fleet(StoreSink(store), dead_letters, clock=lambda: clock_us)
    materialized = list(messages)
    return dead_letters, run_embedded(pipeline, lambda: materialized)


def ingest(messages: Iterable[Message], path: Path | str) -> tuple[
        SQLiteGraphStore, DeadLetterList, RunReport]:
    store = open_store(path)
    dead_letters, report = ingest_into(store, messages)
    return store, dead_letters, report


def fleet_run(store: GraphStore) -> FleetRun:
    """The simulated fleet ingested into ``store``."""
    messages, defects = simulated_messages()
    dead_letters, report = ingest_into(store, messages)
    codec = load_event_codec()
    clean = [(m.topic, codec.decode(m.payload)[1]) for m in messages if m.source not in defects]
    return FleetRun(messages, defects, clean, store, dead_letters, report)
