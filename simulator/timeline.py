"""The fleet's event timeline: the window planned once, then streamed in event-time order.

:class:`Timeline` plans the window once (layout changes, job placements,
faults, artifact lifecycles; all small) and then streams the clean events in
event-time order, generating the bulky telemetry lazily tick by tick, so even a
full-scale fleet streams in modest memory. Noise is added by
:mod:`fleetgraph.simulator.noise`.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator

from fleetgraph.simulator.artifacts import artifact_events
from fleetgraph.simulator.config import SimulationConfig, Window, window_of
from fleetgraph.simulator.cooling import Cooling, RackMove, draw_moves, move_events
from fleetgraph.simulator.events import EventIds, SimEvent, event_time_of
from fleetgraph.simulator.faults import FaultBook, add_random_faults, fault_events
from fleetgraph.simulator.fleet import Fleet
from fleetgraph.simulator.incidents import StagedIncidents, fail_jobs_without_cooling
from fleetgraph.simulator.inventory import (
    initial_inventory,
    initial_inventory_count,
    install_added_racks,
    remove_idle_servers,
)
from fleetgraph.simulator.jobs import Job, Workload, job_events
from fleetgraph.simulator.layout import build_fleet
from fleetgraph.simulator.scheduler import Scheduler
from fleetgraph.simulator.telemetry import Telemetry

RNG_STREAMS = ("racks", "moves", "faults", "jobs", "artifacts")


class Timeline:
    """The planned window of one fleet; :meth:`clean_events` streams it in event-time order."""

    cooling: Cooling
    scheduler: Scheduler
    telemetry: Telemetry

    def __init__(self, config: SimulationConfig, fleet: Fleet, window: Window) -> None:
        self.config = config
        self.fleet = fleet
        self.window = window
        self.ids = EventIds()
        self.planned: list[SimEvent] = []
        self.installed: dict[str, int] = {}  # rack id -> install time, for racks added
        self.moves: list[RackMove] = []
        self.faults = FaultBook()
        self.jobs: list[Job] = []
        self._rng = {name: random.Random(f"{config.seed}:{name}") for name in RNG_STREAMS}

    @classmethod
    def plan(cls, config: SimulationConfig) -> Timeline:
        timeline = cls(config, build_fleet(config), window_of(config))
        timeline._plan()
        return timeline

    def _plan(self) -> None:
        """The steps in order: steps sharing a random stream draw from it in turn."""
        self._plan_layout()
        self._plan_workload()
        self._plan_events()
        self.planned.sort(key=event_time_of)

    def _plan_layout(self) -> None:
        """Racks added in the window, and racks moved to another CDU."""
        fleet, window, rng = self.fleet, self.window, self._rng
        self.installed, added = install_added_racks(fleet, window, self.ids, rng["racks"])
        self.planned += added
        self.cooling = Cooling(fleet, self.installed)
        self.moves = draw_moves(fleet, window, self.config.rack_moves, rng["moves"])
        for move in self.moves:
            self.cooling.move(move)
        self.planned += move_events(self.moves, self.ids)

    def _plan_workload(self) -> None:
        """Jobs and faults: the staged incidents first, so their jobs get their GPUs."""
        config, fleet, window, rng = self.config, self.fleet, self.window, self._rng
        self.scheduler = Scheduler(fleet, window, self.installed)
        workload = Workload(fleet, window, self.scheduler)
        self.jobs = workload.jobs
        incidents = StagedIncidents(fleet, window, self.cooling, self.faults, workload,
                                    self.installed, rng["faults"])
        incidents.after_moves(self.moves)
        incidents.on_cdus(config.staged_cdu_faults)
        workload.submit(config.jobs_per_site_per_hour, rng["jobs"])
        add_random_faults(self.faults, fleet, config, window, rng["faults"])
        fail_jobs_without_cooling(self.jobs, self.faults, self.cooling, rng["faults"])
        workload.number()

    def _plan_events(self) -> None:
        """The artifact, job and fault events; idle servers removed."""
        fleet, window, ids = self.fleet, self.window, self.ids
        self.planned += artifact_events(fleet, window, self.jobs, ids, self._rng["artifacts"])
        self.planned += job_events(self.jobs, ids, window.end_us)
        self.planned += fault_events(self.faults, ids, window.end_us)
        self.telemetry = Telemetry(self.config, window, fleet, installed=self.installed,
                                   jobs=self.jobs, faults=self.faults, cooling=self.cooling)
        self.planned += remove_idle_servers(
            fleet, window, installed=self.installed, last_end=self.scheduler.last_end,
            sampled=self.telemetry.sampled_servers(), ids=ids, rng=self._rng["racks"])

    def clean_count(self) -> int:
        """How many clean events :meth:`clean_events` yields."""
        return initial_inventory_count(self.fleet) + len(self.planned) + self.telemetry.count()

    def clean_events(self) -> Iterator[SimEvent]:
        """Every clean event, in event-time order."""
        return heapq.merge(initial_inventory(self.fleet, self.window), self.planned,
                           self.telemetry.events(), key=event_time_of)
