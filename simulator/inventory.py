"""The inventory stream: what is installed before and during the window, and what is removed.

Everything installed before the window is reported in the two hours before it,
in containment order (a site before its racks, a rack before its servers).
Racks added in the window arrive the same way, in one go; a few idle servers
are decommissioned. The ``cooled_by`` moves are in :mod:`fleetgraph.simulator.cooling`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator.config import HOUR_US, MINUTE_US, Window
from fleetgraph.simulator.draws import between
from fleetgraph.simulator.events import EventIds, SimEvent, inventory_event
from fleetgraph.simulator.fleet import Fleet, Rack, Site

ADDED_RACK_STEP_US = 10_000  # between the install events of a rack added in the window


def initial_inventory(fleet: Fleet, window: Window) -> Iterator[SimEvent]:
    """Everything installed and linked before the window, in containment order."""
    ids = EventIds("i")
    step = min(10_000, (90 * MINUTE_US) // max(1, initial_inventory_count(fleet)))
    t = window.start_us - 2 * HOUR_US
    for site in fleet.sites:
        for component, parent, attributes in _site_components(site):
            yield inventory_event(ids(Topic.INVENTORY), t, "installed", component,
                                  parent_id=parent, attributes=attributes)
            t += step
        for rack in site.racks:
            if not rack.added_in_window:
                for sim in rack_installation(ids, site, rack, t, step):
                    t = sim.event["event_time"] + step
                    yield sim
    for instrument in fleet.instruments:
        yield inventory_event(ids(Topic.INVENTORY), t, "installed", instrument.id,
                              parent_id=instrument.site_id, attributes={"kind": instrument.kind})
        t += step


def _site_components(site: Site) -> list[tuple[str, str | None, dict[str, str]]]:
    """(component, parent, attributes) of a site and what it has besides racks."""
    specs: list[tuple[str, str | None, dict[str, str]]] = [
        (site.id, None, site.attributes()),
        (site.leaf_switch_id, site.id, {"role": "leaf"}),
    ]
    specs += [(c.id, site.id, {"capacity_kw": f"{c.capacity_kw:g}"}) for c in site.cdus]
    specs += [(p.id, site.id, {"capacity_kw": f"{p.capacity_kw:g}"}) for p in site.power_shelves]
    return specs


def initial_inventory_count(fleet: Fleet) -> int:
    """How many events :func:`initial_inventory` yields."""
    count = len(fleet.instruments)
    for site in fleet.sites:
        count += 2 + len(site.cdus) + len(site.power_shelves)
        for rack in site.racks:
            if not rack.added_in_window:
                count += 2 + len(rack.servers) + rack.gpu_count
                count += len(rack.cdu_ids) + len(rack.power_shelf_ids)
    return count


def rack_installation(ids: EventIds, site: Site, rack: Rack, t: int, step: int
                      ) -> Iterator[SimEvent]:
    """A rack's install events in containment order, ``step`` µs apart, from ``t``."""
    specs: list[tuple[str, str, str | None, dict[str, str] | None]] = [
        ("installed", rack.id, site.id, rack.attributes()),
        ("installed", rack.tor_switch_id, rack.id, {"role": "tor"}),
    ]
    for server in rack.servers:
        specs.append(("installed", server.id, rack.id, server.attributes()))
        gpu_attributes = server.gpu_attributes()
        specs.extend(("installed", g, server.id, gpu_attributes) for g in server.gpu_ids)
    for n, (kind, component, parent, attributes) in enumerate(specs):
        yield inventory_event(ids(Topic.INVENTORY), t + n * step, kind, component,
                              parent_id=parent, attributes=attributes)
    t += len(specs) * step
    links = [("cooled_by", c) for c in rack.cdu_ids]
    links += [("powered_by", p) for p in rack.power_shelf_ids]
    for n, (relation, target) in enumerate(links):
        yield inventory_event(ids(Topic.INVENTORY), t + n * step, "linked", rack.id,
                              relation=relation, target_id=target)


def install_added_racks(fleet: Fleet, window: Window, ids: EventIds, rng: random.Random
                        ) -> tuple[dict[str, int], list[SimEvent]]:
    """The racks added in the window: their install times (by rack id), and their events
    with their site's new capacity."""
    installed: dict[str, int] = {}
    events: list[SimEvent] = []
    for site in fleet.sites:
        for rack in site.racks:
            if rack.added_in_window:
                t = window.at(rng.uniform(0.1, 0.5))
                installed[rack.id] = t
                events.extend(rack_installation(ids, site, rack, t, ADDED_RACK_STEP_US))
                events.append(inventory_event(
                    ids(Topic.INVENTORY), t + 5 * MINUTE_US, "updated", site.id,
                    attributes={"capacity_kw": f"{site.capacity_kw(with_added=True):g}"}))
    return installed, events


def remove_idle_servers(
    fleet: Fleet, window: Window, *, installed: dict[str, int], last_end: dict[str, int],
    sampled: set[str], ids: EventIds, rng: random.Random,
) -> list[SimEvent]:
    """Decommission a few servers that ran nothing since and will run nothing more.

    Servers on racks added in the window (``installed``) and servers reporting
    telemetry (``sampled``) stay; ``last_end`` is when each server's last job ends.
    """
    idle = [s for s in fleet.servers()
            if s.id not in sampled and s.rack_id not in installed
            and max(last_end.get(s.id, 0), window.start_us) < window.at(0.7)]
    events = []
    for server in rng.sample(idle, min(len(idle), max(1, len(fleet.sites) // 20))):
        last = max(last_end.get(server.id, 0), window.start_us)
        t = last + between(rng, 10 * MINUTE_US, HOUR_US)
        events.append(inventory_event(ids(Topic.INVENTORY), t, "removed", server.id,
                                      parent_id=server.rack_id))
    return events
