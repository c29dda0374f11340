"""The workload: jobs submitted at each site, placed on its GPUs, and their lifecycle events.

Jobs arrive at each site as a Poisson process, start once the scheduler finds
them GPUs (or are cancelled after a few attempts), and finish or fail. The jobs
pinned under staged faults come from :mod:`fleetgraph.simulator.incidents`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator.config import HOUR_US, INF, MINUTE_US, SECOND_US, Window
from fleetgraph.simulator.draws import between, log_uniform
from fleetgraph.simulator.events import EventIds, SimEvent, job_event
from fleetgraph.simulator.fleet import Dataset, Fleet, Model, Rack, Site
from fleetgraph.simulator.scheduler import Placement, Scheduler

JOB_KINDS = ("training", "inference", "batch_inference", "agentic")
JOB_GPUS = {
    "training": (8, 16, 32, 64),
    "inference": (1, 2, 4, 8),
    "batch_inference": (4, 8, 16),
    "agentic": (1, 2, 4),
}
JOB_MINUTES = {
    "training": (60.0, 720.0),
    "inference": (20.0, 240.0),
    "batch_inference": (30.0, 180.0),
    "agentic": (2.0, 45.0),
}
FAILURE_REASONS = ("oom", "nccl_timeout", "preempted", "node_failure", "user_error")
START_ATTEMPTS_US = (0, 10 * MINUTE_US, 30 * MINUTE_US, 60 * MINUTE_US)
PINNED_JOB_KINDS = ("training", "inference", "batch_inference")


@dataclass(slots=True)
class Job:
    site: Site
    application_id: str
    user_id: str
    kind: str
    gpus_requested: int
    model: Model
    inputs: list[str]
    submit_us: int
    duration_us: int
    start_us: int | None = None  # None: never started
    end_us: int = INF  # finished, failed or cancelled at; INF: still pending or running
    outcome: str = "finished"  # finished, failed or cancelled
    exit_reason: str = "completed"
    placement: Placement = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    id: str = ""


class Workload:
    """The window's jobs: drawn from the catalogue, placed by the scheduler, then numbered."""

    def __init__(self, fleet: Fleet, window: Window, scheduler: Scheduler) -> None:
        self.fleet = fleet
        self.window = window
        self.scheduler = scheduler
        self.jobs: list[Job] = []
        self._sites = {s.id: s for s in fleet.sites}

    def submit(self, jobs_per_site_per_hour: float, rng: random.Random) -> None:
        """Jobs submitted at each site over the window, each started when it can be."""
        rate_per_us = jobs_per_site_per_hour / HOUR_US
        if rate_per_us <= 0:
            return
        for site in self.fleet.sites:
            t = self.window.start_us + int(rng.expovariate(rate_per_us))
            while t < self.window.end_us:
                job = self._new_job(rng, site, t)
                self._start(job, rng)
                self.jobs.append(job)
                t += max(1, int(rng.expovariate(rate_per_us)))

    def pin(self, rack: Rack, want: int, start: int, end: int, rng: random.Random) -> bool:
        """A job on ``want`` GPUs of ``rack`` running over ``[start, end)``, if they are free."""
        placement = self.scheduler.pin(rack, want, start, end)
        if placement is None:
            return False
        site = self._sites[rack.site_id]
        job = self._new_job(rng, site, start - between(rng, 5 * SECOND_US, 3 * MINUTE_US),
                            kind=rng.choice(PINNED_JOB_KINDS))
        job.gpus_requested, job.start_us, job.end_us = want, start, end
        job.duration_us = end - start
        job.placement = placement
        self.jobs.append(job)
        return True

    def number(self) -> None:
        """Job ids in submission order: ``job:j000042``."""
        self.jobs.sort(key=lambda j: (j.submit_us, j.site.id))
        width = max(6, len(str(len(self.jobs))))
        for n, job in enumerate(self.jobs, start=1):
            job.id = f"job:j{n:0{width}d}"

    def _new_job(self, rng: random.Random, site: Site, submit: int, kind: str | None = None
                 ) -> Job:
        application = rng.choice(self.fleet.applications)
        if kind is None:
            kind = application.job_kind if rng.random() < 0.7 else rng.choice(JOB_KINDS)
        model = rng.choice(self.fleet.models)
        inputs = [model.weights_id]
        dataset_count = {"training": rng.randint(1, 2), "batch_inference": 1,
                         "agentic": rng.randint(0, 1)}.get(kind, 0)
        inputs += [d.id for d in self._datasets_for(rng, site, dataset_count)]
        site_gpus = sum(r.gpu_count for r in site.racks)
        gpus = min(rng.choice(JOB_GPUS[kind]), max(1, site_gpus // 3))
        lo, hi = JOB_MINUTES[kind]
        job = Job(site, application.id, rng.choice(application.user_ids), kind, gpus, model,
                  inputs, submit, int(log_uniform(rng, lo, hi) * MINUTE_US))
        if rng.random() < 0.12:
            job.outcome, job.exit_reason = "failed", rng.choice(FAILURE_REASONS)
        return job

    def _datasets_for(self, rng: random.Random, site: Site, count: int) -> list[Dataset]:
        """Mostly datasets of the site's own jurisdiction."""
        local = [d for d in self.fleet.datasets if d.jurisdiction == site.jurisdiction]
        pool = local if local and rng.random() < 0.8 else list(self.fleet.datasets)
        return rng.sample(pool, min(count, len(pool)))

    def _start(self, job: Job, rng: random.Random) -> None:
        first = job.submit_us + between(rng, 2 * SECOND_US, 2 * MINUTE_US)
        for delay in START_ATTEMPTS_US:
            start = first + delay + (between(rng, 0, MINUTE_US) if delay else 0)
            end = start + job.duration_us
            placement = self.scheduler.place(job.site, job.gpus_requested, start, end, rng)
            if placement is not None:
                job.start_us, job.end_us, job.placement = start, end, placement
                return
        job.outcome, job.exit_reason = "cancelled", "no_capacity"
        job.end_us = first + START_ATTEMPTS_US[-1] + 2 * MINUTE_US


def job_events(jobs: list[Job], ids: EventIds, end_us: int) -> list[SimEvent]:
    """Each job's submission, start and end, as far as they are before ``end_us``."""
    events = []
    for job in jobs:
        if job.submit_us >= end_us:
            continue
        events.append(job_event(
            ids(Topic.JOBS), job.submit_us, "submitted", job.id,
            application_id=job.application_id, user_id=job.user_id, job_kind=job.kind,
            gpus_requested=job.gpus_requested, model_id=job.model.id, inputs=job.inputs))
        if job.start_us is not None and job.start_us < end_us:
            events.append(job_event(ids(Topic.JOBS), job.start_us, "started", job.id,
                                    placement=job.placement))
        if job.end_us < end_us:
            events.append(job_event(
                ids(Topic.JOBS), job.end_us, job.outcome, job.id, placement=job.placement,
                outputs=job.outputs, exit_reason=job.exit_reason))
    return events
