"""The telemetry stream: readings of CDUs, power shelves and sampled GPUs, and site energy.

Every ``telemetry_interval_s`` (plus jitter) each site reports: each CDU's
supply temperature and flow, each power shelf's output, temperature, power and
utilization of a sample of GPUs per rack, and the site's energy state. It is
generated lazily, tick by tick, from the planned jobs and faults; what one
site reports at one tick is in :mod:`fleetgraph.simulator.readings`.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator

from fleetgraph.simulator.config import INF, MINUTE_US, SECOND_US, SimulationConfig, Window
from fleetgraph.simulator.cooling import Cooling
from fleetgraph.simulator.events import SimEvent, event_time_of
from fleetgraph.simulator.faults import FaultBook
from fleetgraph.simulator.fleet import Fleet
from fleetgraph.simulator.jobs import Job
from fleetgraph.simulator.readings import GpuSample, RackLoad, ReadingIds, SiteReadings, SiteState

Changes = dict[str, list[tuple[int, int]]]  # rack id -> [(time, busy GPUs delta), ...]
Bookings = dict[str, list[tuple[int, int, str]]]  # GPU id -> [(start, end, job kind), ...]


class Telemetry:
    """Readings every ``telemetry_interval_s`` (plus jitter) of CDUs, power shelves, a sample
    of GPUs, and each site's energy state; generated lazily, tick by tick."""

    def __init__(self, config: SimulationConfig, window: Window, fleet: Fleet, *,
                 installed: dict[str, int], jobs: list[Job], faults: FaultBook,
                 cooling: Cooling) -> None:
        self.seed = config.seed
        self.fleet = fleet
        self.installed = installed
        self.jobs = jobs
        self.faults = faults
        self.cooling = cooling
        self.interval_us = config.telemetry_interval_s * SECOND_US
        self.jitter_us = min(self.interval_us // 2, MINUTE_US)
        last = (window.end_us - self.jitter_us - 1 - window.start_us) // self.interval_us
        self.ticks = [window.start_us + k * self.interval_us for k in range(max(0, last + 1))]
        sample_rng = random.Random(f"{config.seed}:gpu-sample")
        self._samples = {  # rack id -> [(server id, GPU id), ...] that report readings
            rack.id: sample_rng.sample(
                [(s.id, g) for s in rack.servers for g in s.gpu_ids],
                min(config.gpus_sampled_per_rack, rack.gpu_count))
            for rack in fleet.racks()
        }

    def sampled_servers(self) -> set[str]:
        """The servers with a GPU that reports readings."""
        return {server for pairs in self._samples.values() for server, _ in pairs}

    def count(self) -> int:
        """How many events :meth:`events` yields."""
        per_tick = sum(1 + 2 * len(s.cdus) + len(s.power_shelves) for s in self.fleet.sites)
        total = per_tick * len(self.ticks)
        for rack in self.fleet.racks():
            since = self.installed.get(rack.id, -INF)
            ticks = len(self.ticks) - bisect.bisect_left(self.ticks, since)
            total += 3 * len(self._samples[rack.id]) * ticks
        return total

    def events(self) -> Iterator[SimEvent]:
        """The readings in event-time order."""
        rng = random.Random(f"{self.seed}:telemetry")
        states = self._site_states(rng)
        readings = SiteReadings(rng, self.faults, self.cooling, self.interval_us,
                                self.jitter_us, ReadingIds())
        for t in self.ticks:
            batch: list[SimEvent] = []
            for state in states:
                readings.tick(state, t, batch)
            batch.sort(key=event_time_of)
            yield from batch

    def _site_states(self, rng: random.Random) -> list[SiteState]:
        """Each site's state at the start: its racks' loads over time, the bookings of its
        sampled GPUs, and its battery and cloud cover."""
        changes, bookings = self._load_changes()
        states = []
        for site in self.fleet.sites:
            racks: list[RackLoad] = []
            gpus: list[GpuSample] = []
            for rack in site.racks:
                load = RackLoad(rack, self.installed.get(rack.id, -INF),
                                sorted(changes.get(rack.id, [])))
                racks.append(load)
                gpus += [GpuSample(g, site.id, load, rack.generation, sorted(bookings.get(g, [])))
                         for _, g in self._samples[rack.id]]
            states.append(SiteState(site, racks, gpus, rng.uniform(0.4, 0.9),
                                    rng.uniform(0.6, 1.0)))
        return states

    def _load_changes(self) -> tuple[Changes, Bookings]:
        """How many GPUs of each rack get busy or free when, and the sampled GPUs' jobs."""
        changes: Changes = {}
        bookings: Bookings = {g: [] for pairs in self._samples.values() for _, g in pairs}
        for job in self.jobs:
            if job.start_us is None:
                continue
            for server, gpus in job.placement:
                rack_changes = changes.setdefault(server.rack_id, [])
                rack_changes.append((job.start_us, len(gpus)))
                if job.end_us < INF:
                    rack_changes.append((job.end_us, -len(gpus)))
                for g in gpus:
                    if g in bookings:
                        bookings[g].append((job.start_us, job.end_us, job.kind))
        return changes, bookings
