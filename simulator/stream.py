"""The four streams merged in arrival order: the planned timeline plus the noise.

``simulate`` yields clean events (with duplicates, late arrivals and
heartbeats), ``simulate_messages`` the encoded messages with malformed ones
mixed in.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from fleetgraph.schemas.codec import EventCodec
from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator.config import SimulationConfig
from fleetgraph.simulator.events import SimEvent
from fleetgraph.simulator.fleet import Fleet
from fleetgraph.simulator.noise import MalformedMessages, deliver
from fleetgraph.simulator.timeline import Timeline


def simulate(config: SimulationConfig) -> Iterator[SimEvent]:
    """Clean events in arrival order, with duplicates, late arrivals and heartbeats."""
    return _deliver(Timeline.plan(config))


def simulate_messages(
    config: SimulationConfig, codec: EventCodec
) -> Iterator[tuple[Topic, bytes, str | None]]:
    """Encoded messages in arrival order: (topic, payload, defect); defect is None when good."""
    timeline = Timeline.plan(config)
    fleet = timeline.fleet
    malformed = MalformedMessages(codec, config.seed, [s.id for s in fleet.sites],
                                  [c.id for c in fleet.cdus()])
    rng = random.Random(f"{config.seed}:malformed-rate")
    rate = config.malformed_rate
    for sim in _deliver(timeline):
        payload = codec.encode(sim.topic, sim.event)
        yield sim.topic, payload, None
        if rate and rng.random() < rate:
            bad = malformed.make(sim.topic, sim.event, payload)
            yield bad.topic, bad.payload, bad.defect


def estimate_events(config: SimulationConfig) -> int:
    """About how many events ``simulate`` yields (exact for the clean ones), for progress bars.

    ``simulate_messages`` yields about ``malformed_rate`` times as many more.
    """
    clean = Timeline.plan(config).clean_count()
    return round(clean * (1 + config.duplicate_rate + config.heartbeat_rate))


def _deliver(timeline: Timeline) -> Iterator[SimEvent]:
    return deliver(timeline.clean_events(), timeline.config,
                   _heartbeat_sources(timeline.fleet), timeline.window.end_us)


def _heartbeat_sources(fleet: Fleet) -> list[tuple[str, str]]:
    """(component id, site id) of everything that sends heartbeats from the start."""
    sources = [(c.id, c.site_id) for c in fleet.cdus()]
    sources += [(p.id, p.site_id) for p in fleet.power_shelves()]
    sources += [(s.leaf_switch_id, s.id) for s in fleet.sites]
    sources += [(r.tor_switch_id, r.site_id) for r in fleet.racks() if not r.added_in_window]
    sources += [(i.id, i.site_id) for i in fleet.instruments]
    return sources
