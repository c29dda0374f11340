"""A deterministic (seeded) simulator of the fleet's four event streams.

``simulate(config)`` yields clean events in arrival order (with duplicates,
late arrivals and heartbeats); ``simulate_messages(config, codec)`` yields the
encoded messages with malformed ones mixed in; ``build_fleet(config)`` gives
the layout. The same config with a fixed ``end_time_us`` gives the same output.

How it is put together: :mod:`~ingest.simulator.layout` and
:mod:`~ingest.simulator.catalogue` draw the :mod:`~ingest.simulator.fleet`;
:mod:`~ingest.simulator.timeline` plans the window (inventory, cooling moves,
jobs, faults and staged incidents, artifacts) and streams it with the lazily
generated telemetry; :mod:`~ingest.simulator.noise` turns that into arrival
order, and :mod:`~ingest.simulator.stream` puts the two together.
"""

from __future__ import annotations

from ingest.simulator.config import SimulationConfig, Window, window_of
from ingest.simulator.events import SimEvent
from ingest.simulator.fleet import Fleet
from ingest.simulator.layout import build_fleet
from ingest.simulator.noise import DEFECTS, Malformed
from ingest.simulator.stream import estimate_events, simulate, simulate_messages
from ingest.simulator.timeline import Timeline

__all__ = [
    "DEFECTS",
    "Fleet",
    "Malformed",
    "SimEvent",
    "SimulationConfig",
    "Timeline",
    "Window",
    "build_fleet",
    "estimate_events",
    "simulate",
    "simulate_messages",
    "window_of",
]
