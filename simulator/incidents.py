"""Staged incidents: CDU faults over running jobs, and what a lost cooling loop does to jobs.

The staged faults make sure every window has the incidents the queries look
for: a CDU fault under a job on a rack it cools, including one still open at
the end of the window, and a fault of a CDU a rack was moved away from (the
rack's jobs are not affected, a rack it still cools is). Jobs on a rack whose
every CDU is in fault fail a few minutes into the fault.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from fleetgraph.simulator.config import HOUR_US, INF, MINUTE_US, Window
from fleetgraph.simulator.cooling import Cooling, RackMove
from fleetgraph.simulator.draws import between
from fleetgraph.simulator.faults import CDU_FAULT_CODES, Fault, FaultBook
from fleetgraph.simulator.fleet import Fleet, Rack
from fleetgraph.simulator.jobs import Job, Workload

COOLING_FAULT = "cooling_fault"  # the exit reason of a job whose rack lost all cooling


class StagedIncidents:
    """Stages CDU faults, each over a job pinned on a rack the CDU cools when it starts."""

    def __init__(self, fleet: Fleet, window: Window, cooling: Cooling, faults: FaultBook,
                 workload: Workload, installed: dict[str, int], rng: random.Random) -> None:
        self.fleet = fleet
        self.window = window
        self.cooling = cooling
        self.faults = faults
        self.workload = workload
        self.installed = installed
        self.rng = rng
        self._racks = {r.id: r for r in fleet.racks()}

    def after_moves(self, moves: Iterable[RackMove]) -> None:
        """A fault of the CDU each moved rack left, over a job on the moved rack (which the
        fault does not affect) and over a job on a rack the CDU still cools."""
        rng, w = self.rng, self.window.length_us
        for move in moves:
            start = move.unlinked_us + int(w * rng.uniform(0.08, 0.25))
            end = start + int(w * rng.uniform(0.04, 0.1))
            if not (self._fault_possible(move.from_cdu, start, end) and self._pin_job(
                    move.rack, start, earliest=move.unlinked_us + MINUTE_US)):
                continue
            self._add_fault(move.from_cdu, start, end)
            still_cooled = self.cooling.racks_cooled_by(move.from_cdu, start)
            if still_cooled:
                self._pin_job(self._racks[rng.choice(sorted(still_cooled))], start)

    def on_cdus(self, count: int) -> None:
        """``count`` faults of CDUs over a job on a rack each cools; the first one is still
        open at the end of the window."""
        rng, w = self.rng, self.window.length_us
        cdus = [c for c in self.fleet.cdus() if self.cooling.racks_of_cdu.get(c.id)]
        staged = 0
        for _ in range(10 * count):
            if staged == count or not cdus:
                break
            cdu = rng.choice(cdus)
            if staged == 0:
                start, end = self.window.at(rng.uniform(0.8, 0.9)), INF
            else:
                start = self.window.at(rng.uniform(0.15, 0.75))
                end = start + int(w * rng.uniform(0.03, 0.08))
            racks = sorted(self.cooling.racks_cooled_by(cdu.id, start))
            racks = [r for r in racks if self.installed.get(r, -INF) < start - HOUR_US]
            if not racks or not self._fault_possible(cdu.id, start, end):
                continue
            if self._pin_job(self._racks[rng.choice(racks)], start):
                self._add_fault(cdu.id, start, end)
                staged += 1

    def _fault_possible(self, cdu_id: str, start: int, end: int) -> bool:
        return start < self.window.end_us and self.faults.is_free(cdu_id, start, end)

    def _add_fault(self, cdu_id: str, start: int, end: int) -> None:
        site_id = self._racks[self.cooling.racks_of_cdu[cdu_id][0]].site_id
        code = self.rng.choice(CDU_FAULT_CODES)
        self.faults.add(Fault(cdu_id, site_id, "fault", code, "critical", start, end))

    def _pin_job(self, rack: Rack, fault_start: int, earliest: int | None = None) -> bool:
        """A job on ``rack`` that is running when a fault starts."""
        rng, w = self.rng, self.window.length_us
        lo = max(self.window.start_us + MINUTE_US, earliest or -INF)
        start = max(lo, fault_start - int(w * rng.uniform(0.02, 0.08)))
        end = fault_start + int(w * rng.uniform(0.05, 0.2))
        if start >= fault_start:
            return False
        want = rack.generation.gpus_per_server * rng.choice((1, 2))
        return self.workload.pin(rack, want, start, end, rng)


def fail_jobs_without_cooling(jobs: Iterable[Job], faults: FaultBook, cooling: Cooling,
                              rng: random.Random) -> None:
    """Jobs on a rack whose every CDU is in fault fail a few minutes into the fault."""
    by_rack = _jobs_by_rack(jobs)
    for fault in faults.all():
        if fault.status != "fault" or not fault.component_id.startswith("cdu:"):
            continue
        for rack_id in _racks_without_cooling(fault, faults, cooling):
            for job in by_rack.get(rack_id, ()):
                assert job.start_us is not None
                if job.start_us < fault.end_us and job.end_us > fault.start_us:
                    end = (max(job.start_us, fault.start_us)
                           + between(rng, MINUTE_US, 8 * MINUTE_US))
                    if end < job.end_us:
                        job.end_us, job.outcome = end, "failed"
                        job.exit_reason = COOLING_FAULT


def _jobs_by_rack(jobs: Iterable[Job]) -> dict[str, list[Job]]:
    by_rack: dict[str, list[Job]] = {}
    for job in jobs:
        for rack_id in {server.rack_id for server, _ in job.placement}:
            by_rack.setdefault(rack_id, []).append(job)
    return by_rack


def _racks_without_cooling(fault: Fault, faults: FaultBook, cooling: Cooling) -> list[str]:
    """The racks a CDU cools when its fault starts that no live CDU cools then."""
    t = fault.start_us
    return [rack_id for rack_id in cooling.racks_cooled_by(fault.component_id, t)
            if all(faults.status_at(c, t) == "fault" for c in cooling.at(rack_id, t))]
