"""A deterministic (seeded) simulator of the fleet's four event streams.

``simulate(config)`` yields clean events in arrival order (with duplicates,
late arrivals and heartbeats); ``simulate_messages(config, codec)`` yields the
encoded messages with malformed ones mixed in; ``build_fleet(config)`` gives
the layout. The same config with a fixed ``end_time_us`` gives the same output.

How it is put together: :mod:`~simulator.layout` and
:mod:`~simulator.catalogue` draw the :mod:`~simulator.fleet`;
:mod:`~simulator.timeline` plans the window (inventory, cooling moves,
jobs, faults and staged incidents, artifacts) and streams it with the lazily
generated telemetry; :mod:`~simulator.noise` turns that into arrival
order, and :mod:`~simulator.stream` puts the two together.
"""

from __future__ import annotations

from fleetgraph.simulator.config import SimulationConfig, Window, window_of
from fleetgraph.simulator.events import SimEvent
from fleetgraph.simulator.fleet import Fleet
from fleetgraph.simulator.layout import build_fleet
from fleetgraph.simulator.noise import DEFECTS, Malformed
from fleetgraph.simulator.stream import estimate_events, simulate, simulate_messages
from fleetgraph.simulator.timeline import Timeline

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
