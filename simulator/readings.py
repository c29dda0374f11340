"""What one site reports at one telemetry tick.

A rack's load follows how many of its GPUs are busy; the heat goes to the live
CDUs that cool it and the power comes from its live shelves. A CDU in fault
runs hot with little flow, a degraded one a little hot; GPUs on a rack with an
impaired CDU run hotter. Site energy follows the sun, the clouds and the
battery.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from fleetgraph.simulator.config import HOUR_US, MINUTE_US
from fleetgraph.simulator.cooling import Cooling
from fleetgraph.simulator.events import SimEvent, reading_event, telemetry_event
from fleetgraph.simulator.faults import FaultBook
from fleetgraph.simulator.fleet import GpuGeneration, Rack, Site

JOB_UTILIZATION = {
    "training": (0.85, 0.99),
    "inference": (0.3, 0.8),
    "batch_inference": (0.7, 0.95),
    "agentic": (0.1, 0.6),
}
IDLE_UTILIZATION = (0.0, 0.03)


@dataclass(slots=True)
class RackLoad:
    rack: Rack
    installed_us: int
    changes: list[tuple[int, int]]  # (time, busy GPUs delta), sorted
    cursor: int = 0
    busy: int = 0

    def busy_fraction(self, t: int) -> float:
        """The fraction of the rack's GPUs busy at ``t``; ``t`` never goes back."""
        changes = self.changes
        while self.cursor < len(changes) and changes[self.cursor][0] <= t:
            self.busy += changes[self.cursor][1]
            self.cursor += 1
        return self.busy / self.rack.gpu_count


@dataclass(slots=True)
class GpuSample:
    gpu_id: str
    site_id: str
    rack: RackLoad
    generation: GpuGeneration
    bookings: list[tuple[int, int, str]]  # (start, end, job kind), sorted, disjoint
    cursor: int = 0

    def job_kind(self, t: int) -> str | None:
        """The kind of job running on the GPU at ``t``; ``t`` never goes back."""
        while self.cursor < len(self.bookings) and self.bookings[self.cursor][1] <= t:
            self.cursor += 1
        if self.cursor < len(self.bookings) and self.bookings[self.cursor][0] <= t:
            return self.bookings[self.cursor][2]
        return None


@dataclass(slots=True)
class SiteState:
    site: Site
    racks: list[RackLoad]
    gpus: list[GpuSample]
    battery_soc: float
    cloud: float


class ReadingIds:
    """Ids of readings: ``telemetry-r0000000042``."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"telemetry-r{self.count:010d}"


class SiteReadings:
    """Makes the readings of a site at a tick; all draws come from one generator in turn."""

    def __init__(self, rng: random.Random, faults: FaultBook, cooling: Cooling,
                 interval_us: int, jitter_us: int, ids: ReadingIds) -> None:
        self.rng = rng
        self.faults = faults
        self.cooling = cooling
        self.interval_us = interval_us
        self.jitter_us = jitter_us
        self.ids = ids

    def tick(self, state: SiteState, t: int, out: list[SimEvent]) -> None:
        loads = self._rack_loads(state, t)
        heat, output, impaired = self._spread(state.site, loads, t)
        thermal_capacity = self._cdu_readings(state.site, t, heat, out)
        self._shelf_readings(state.site, t, output, out)
        self._gpu_readings(state, t, impaired, out)
        out.append(self._site_energy(state, t, self.ids(), sum(loads.values()),
                                     thermal_capacity))

    def _rack_loads(self, state: SiteState, t: int) -> dict[str, float]:
        """kW drawn by each installed rack."""
        gauss = self.rng.gauss
        loads: dict[str, float] = {}
        for rack_load in state.racks:
            if t < rack_load.installed_us:
                continue
            fraction = rack_load.busy_fraction(t)
            loads[rack_load.rack.id] = (rack_load.rack.capacity_kw * (0.18 + 0.72 * fraction)
                                        * (1 + gauss(0, 0.015)))
        return loads

    def _spread(self, site: Site, loads: dict[str, float], t: int
                ) -> tuple[dict[str, float], dict[str, float], set[str]]:
        """Heat per CDU and output per power shelf (live ones take it all), and the racks
        with an impaired CDU."""
        faults = self.faults
        heat = {c.id: 0.0 for c in site.cdus}
        output = {p.id: 0.0 for p in site.power_shelves}
        impaired: set[str] = set()
        for rack in site.racks:
            load = loads.get(rack.id)
            if load is None:
                continue
            cdus = self.cooling.at(rack.id, t)
            statuses = [faults.status_at(c, t) for c in cdus]
            if any(statuses):
                impaired.add(rack.id)
            live = [c for c, s in zip(cdus, statuses, strict=True) if s != "fault"] or cdus
            for c in live:
                heat[c] += load / len(live)
            shelves = [p for p in rack.power_shelf_ids if faults.status_at(p, t) != "fault"]
            for p in shelves or rack.power_shelf_ids:
                output[p] += load / len(shelves or rack.power_shelf_ids)
        return heat, output, impaired

    def _cdu_readings(self, site: Site, t: int, heat: dict[str, float], out: list[SimEvent]
                      ) -> float:
        """Supply temperature and flow of each CDU; returns the kW the live ones can cool."""
        gauss, random_, jitter, ids = self.rng.gauss, self.rng.random, self.jitter_us, self.ids
        thermal_capacity = 0.0
        for cdu in site.cdus:
            when = t + int(random_() * jitter)
            fault = self.faults.fault_at(cdu.id, t)
            ratio = min(1.5, heat[cdu.id] / cdu.capacity_kw)
            supply = 44.0 + 3.0 * ratio + gauss(0, 0.2)
            flow = (40.0 + 1.5 * heat[cdu.id]) * (1 + gauss(0, 0.02))
            if fault is not None and fault.status == "fault":
                minutes = (t - fault.start_us) / MINUTE_US
                supply += 6.0 + 6.0 * min(1.0, minutes / 30)
                flow *= 0.1
            else:
                thermal_capacity += cdu.capacity_kw
                if fault is not None:  # degraded
                    supply, flow = supply + 2.5, flow * 0.75
            out.append(reading_event(ids(), when, cdu.id, site.id, "supply_temp_c",
                                     round(supply, 2)))
            out.append(reading_event(ids(), when, cdu.id, site.id, "flow_lpm", round(flow, 1)))
        return thermal_capacity

    def _shelf_readings(self, site: Site, t: int, output: dict[str, float],
                        out: list[SimEvent]) -> None:
        gauss, random_, jitter = self.rng.gauss, self.rng.random, self.jitter_us
        for shelf in site.power_shelves:
            kw = output[shelf.id] * (1 + gauss(0, 0.01))
            if self.faults.status_at(shelf.id, t) == "fault":
                kw = 0.0
            out.append(reading_event(self.ids(), t + int(random_() * jitter), shelf.id, site.id,
                                     "output_kw", round(min(kw, shelf.capacity_kw * 1.05), 1)))

    def _gpu_readings(self, state: SiteState, t: int, impaired: set[str],
                      out: list[SimEvent]) -> None:
        rng, ids, site_id = self.rng, self.ids, state.site.id
        gauss, random_, jitter = rng.gauss, rng.random, self.jitter_us
        for gpu in state.gpus:
            if t < gpu.rack.installed_us:
                continue
            when = t + int(random_() * jitter)
            kind = gpu.job_kind(t)
            lo, hi = JOB_UTILIZATION[kind] if kind else IDLE_UTILIZATION
            utilization = rng.uniform(lo, hi)
            generation = gpu.generation
            power = generation.idle_w + (generation.max_w - generation.idle_w) * utilization
            temperature = 33.0 + 40.0 * utilization + gauss(0, 1.0)
            if gpu.rack.rack.id in impaired:
                temperature += 6.0
            out.append(reading_event(ids(), when, gpu.gpu_id, site_id, "temperature_c",
                                     round(min(temperature, 95.0), 1)))
            out.append(reading_event(ids(), when, gpu.gpu_id, site_id, "power_w",
                                     round(max(0.0, power * (1 + gauss(0, 0.03))), 1)))
            out.append(reading_event(ids(), when, gpu.gpu_id, site_id, "utilization",
                                     round(utilization, 3)))

    def _site_energy(self, state: SiteState, t: int, event_id: str, load: float,
                     thermal_capacity: float) -> SimEvent:
        """Headroom of power and cooling, solar output and battery charge of the site."""
        rng, site = self.rng, state.site
        hour = (t / HOUR_US + site.utc_offset_h) % 24
        state.cloud = min(1.0, max(0.3, state.cloud + rng.gauss(0, 0.05)))
        solar = site.solar_peak_kw * max(0.0, math.sin(math.pi * (hour - 6) / 12)) * state.cloud
        hours = self.interval_us / HOUR_US
        charge = (solar - 0.25 * site.solar_peak_kw) * hours / site.battery_kwh
        state.battery_soc = min(0.98, max(0.15, state.battery_soc + charge + rng.gauss(0, 0.003)))
        added = any(r.installed_us <= t for r in state.racks if r.rack.added_in_window)
        return telemetry_event(
            event_id, t + int(rng.random() * self.jitter_us), "site_energy", site.id, site.id,
            power_headroom_kw=round(site.capacity_kw(with_added=added) - load, 1),
            thermal_headroom_kw=round(thermal_capacity - load, 1),
            battery_soc=round(state.battery_soc, 3), solar_kw=round(solar, 1))
