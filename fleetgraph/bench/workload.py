"""The simulated fleets the benchmarks run on, by target edge count; and event logs
of a simulated fleet (the memory probes, the drills' live server)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fleetgraph.ingest.message import Message
from fleetgraph.ingest.sources.eventlog import write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.simulator import SimulationConfig, simulate_messages

SIZES = ("1e5", "1e6", "1e7")


@dataclass(frozen=True)
class Size:
    name: str
    config: SimulationConfig


def size(name: str, end_us: int) -> Size:
    """Fleets of about 10^5, 10^6 and 10^7 stored edges (jobs and placements dominate)."""
    sites, hours, jobs = {
        "1e5": (60, 24.0, 6.0),
        "1e6": (400, 48.0, 10.0),
        "1e7": (1000, 168.0, 20.0),
    }[name]
    return Size(name, SimulationConfig(
        seed=17, sites=sites, hours=hours, end_time_us=end_us,
        jobs_per_site_per_hour=jobs, telemetry_interval_s=900, malformed_rate=0.0,
    ))


def messages(config: SimulationConfig) -> list[Message]:
    return [
        Message(str(topic), payload, f"bench:{i}")
        for i, (topic, payload, _) in enumerate(simulate_messages(config, load_event_codec()))
    ]


def write_simulated_log(path: Path, sites: int, hours: float, end_us: int) -> int:
    """Simulate a fleet (seed 7) up to a fixed end time into an event log at ``path``,
    without a progress bar; the number of messages written."""
    config = SimulationConfig(seed=7, sites=sites, hours=hours, end_time_us=end_us)
    codec = load_event_codec()
    return write_event_log(path, ((str(t), p) for t, p, _ in simulate_messages(config, codec)))
