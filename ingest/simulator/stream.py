"""The fleet's event timeline: inventory, jobs, faults, artifacts and telemetry.

:class:`Timeline` plans the window once (layout changes, job placements,
faults, artifact lifecycles; all small) and then streams the clean events in
event-time order, generating the bulky telemetry lazily tick by tick, so even a
full-scale fleet streams in modest memory. Noise is added by
:mod:`ingest.simulator.noise`.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.simulator.config import (
    HOUR_US,
    MINUTE_US,
    SECOND_US,
    SimulationConfig,
    Window,
    window_of,
)
from ingest.simulator.fleet import (
    Cdu,
    Dataset,
    Fleet,
    GpuGeneration,
    Model,
    PowerShelf,
    Rack,
    Server,
    Site,
    artifact_id_of,
    build_fleet,
    content_hash,
)
from schemas.topics import Topic

INF = 2**62  # "not before the end of time": an open interval's end
COOLING_FAULT = "cooling_fault"
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
JOB_UTILIZATION = {
    "training": (0.85, 0.99),
    "inference": (0.3, 0.8),
    "batch_inference": (0.7, 0.95),
    "agentic": (0.1, 0.6),
}
FAILURE_REASONS = ("oom", "nccl_timeout", "preempted", "node_failure", "user_error")
CDU_FAULT_CODES = ("pump_failure", "leak_detected", "valve_stuck")
CDU_DEGRADED_CODES = ("high_supply_temp", "low_flow", "filter_clogged")
SHELF_FAULT_CODES = ("rectifier_failure", "overcurrent_trip")
SHELF_DEGRADED_CODES = ("overtemperature", "fan_failure", "input_undervoltage")
IDLE_GAP_US = 3 * HOUR_US  # a hot replica idle this long may be evicted
START_ATTEMPTS_US = (0, 10 * MINUTE_US, 30 * MINUTE_US, 60 * MINUTE_US)


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One clean event: a record valid for its topic's schema."""

    topic: Topic
    event: dict[str, Any]

    @property
    def event_time(self) -> int:
        return int(self.event["event_time"])

    @property
    def event_id(self) -> str:
        return str(self.event["event_id"])


def event_time_of(sim: SimEvent) -> int:
    return sim.event["event_time"]  # type: ignore[no-any-return]


# --- event records ----------------------------------------------------------------------


class EventIds:
    """Unique, readable event ids per topic: ``telemetry-000000042``."""

    def __init__(self, namespace: str = "") -> None:
        self._namespace = namespace
        self._last: dict[str, int] = {}

    def __call__(self, topic: Topic) -> str:
        n = self._last.get(topic, 0) + 1
        self._last[topic] = n
        return f"{topic}-{self._namespace}{n:09d}"


def inventory_event(
    event_id: str, t: int, kind: str, component_id: str, *, parent_id: str | None = None,
    relation: str | None = None, target_id: str | None = None,
    attributes: dict[str, str] | None = None,
) -> SimEvent:
    return SimEvent(Topic.INVENTORY, {
        "event_id": event_id, "event_time": t, "kind": kind, "component_id": component_id,
        "parent_id": parent_id, "relation": relation, "target_id": target_id,
        "attributes": attributes or {},
    })


def telemetry_event(
    event_id: str, t: int, kind: str, component_id: str, site_id: str | None, *,
    metric: str | None = None, value: float | None = None, status: str | None = None,
    fault_id: str | None = None, fault_code: str | None = None, severity: str | None = None,
    power_headroom_kw: float | None = None, thermal_headroom_kw: float | None = None,
    battery_soc: float | None = None, solar_kw: float | None = None,
) -> SimEvent:
    return SimEvent(Topic.TELEMETRY, {
        "event_id": event_id, "event_time": t, "kind": kind, "component_id": component_id,
        "site_id": site_id, "metric": metric, "value": value, "status": status,
        "fault_id": fault_id, "fault_code": fault_code, "severity": severity,
        "power_headroom_kw": power_headroom_kw, "thermal_headroom_kw": thermal_headroom_kw,
        "battery_soc": battery_soc, "solar_kw": solar_kw,
    })


def _reading(event_id: str, t: int, component_id: str, site_id: str, metric: str,
             value: float) -> SimEvent:
    """The hot path of telemetry: a reading, built without keyword handling."""
    return SimEvent(Topic.TELEMETRY, {
        "event_id": event_id, "event_time": t, "kind": "reading", "component_id": component_id,
        "site_id": site_id, "metric": metric, "value": value, "status": None,
        "fault_id": None, "fault_code": None, "severity": None, "power_headroom_kw": None,
        "thermal_headroom_kw": None, "battery_soc": None, "solar_kw": None,
    })


def job_event(
    event_id: str, t: int, kind: str, job_id: str, *, application_id: str | None = None,
    user_id: str | None = None, job_kind: str | None = None, gpus_requested: int | None = None,
    model_id: str | None = None, inputs: Iterable[str] = (), outputs: Iterable[str] = (),
    placement: Iterable[tuple[Server, list[str]]] = (), exit_reason: str | None = None,
) -> SimEvent:
    return SimEvent(Topic.JOBS, {
        "event_id": event_id, "event_time": t, "kind": kind, "job_id": job_id,
        "application_id": application_id, "user_id": user_id, "job_kind": job_kind,
        "gpus_requested": gpus_requested, "model_id": model_id, "inputs": list(inputs),
        "outputs": list(outputs),
        "placement": [{"server_id": s.id, "gpu_ids": list(g)} for s, g in placement],
        "exit_reason": exit_reason,
    })


def artifact_event(
    event_id: str, t: int, kind: str, artifact_id: str, *, artifact_kind: str | None = None,
    content_hash: str | None = None, size_bytes: int | None = None,
    model_id: str | None = None, derived_from: Iterable[str] = (), site_id: str | None = None,
    tier: int | None = None, hits: int | None = None,
    attributes: dict[str, str] | None = None,
) -> SimEvent:
    return SimEvent(Topic.ARTIFACTS, {
        "event_id": event_id, "event_time": t, "kind": kind, "artifact_id": artifact_id,
        "artifact_kind": artifact_kind, "content_hash": content_hash, "size_bytes": size_bytes,
        "model_id": model_id, "derived_from": list(derived_from), "site_id": site_id,
        "tier": tier, "hits": hits, "attributes": attributes or {},
    })


def utc_stamp(t_us: int) -> str:
    """``20261121T100000Z``: the UTC second of a time, as fault ids spell it."""
    return datetime.fromtimestamp(t_us // SECOND_US, UTC).strftime("%Y%m%dT%H%M%SZ")


def _between(rng: random.Random, lo: int, hi: int) -> int:
    return rng.randrange(lo, hi) if hi > lo else lo


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count, total = count + 1, total + rng.expovariate(1.0)
    return count


# --- cooling: which CDUs cool which rack, over time ----------------------------------


@dataclass(frozen=True, slots=True)
class RackMove:
    rack: Rack
    from_cdu: str
    to_cdu: str
    linked_us: int  # the new CDU is linked first ...
    unlinked_us: int  # ... then the old one unlinked (make before break)


class Cooling:
    """``cooled_by`` links with their intervals; each (rack, cdu) pair has one interval."""

    def __init__(self, fleet: Fleet, installed: dict[str, int]) -> None:
        self.links: dict[str, list[list[Any]]] = {}  # rack id -> [[cdu, from, to], ...]
        self.racks_of_cdu: dict[str, list[str]] = {}
        for rack in fleet.racks():
            since = installed.get(rack.id, -INF)
            for cdu in rack.cdu_ids:
                self._open(rack.id, cdu, since)

    def _open(self, rack_id: str, cdu_id: str, t: int) -> None:
        self.links.setdefault(rack_id, []).append([cdu_id, t, INF])
        self.racks_of_cdu.setdefault(cdu_id, []).append(rack_id)

    def move(self, move: RackMove) -> None:
        self._open(move.rack.id, move.to_cdu, move.linked_us)
        for link in self.links[move.rack.id]:
            if link[0] == move.from_cdu:
                link[2] = move.unlinked_us

    def at(self, rack_id: str, t: int) -> list[str]:
        return [cdu for cdu, lo, hi in self.links[rack_id] if lo <= t < hi]

    def racks_cooled_by(self, cdu_id: str, t: int) -> list[str]:
        return [r for r in self.racks_of_cdu.get(cdu_id, ()) if cdu_id in self.at(r, t)]


# --- faults ---------------------------------------------------------------------------


@dataclass(slots=True)
class Fault:
    component_id: str
    site_id: str
    status: str  # fault or degraded
    code: str
    severity: str
    start_us: int
    end_us: int  # INF: still open at the end of the window

    @property
    def fault_id(self) -> str:
        return f"{self.component_id}@{utc_stamp(self.start_us)}"


class FaultBook:
    """Faults per component; a component's faults never overlap."""

    MARGIN_US = 10 * MINUTE_US

    def __init__(self) -> None:
        self.by_component: dict[str, list[Fault]] = {}

    def is_free(self, component_id: str, start: int, end: int) -> bool:
        return all(
            end + self.MARGIN_US <= f.start_us or f.end_us + self.MARGIN_US <= start
            for f in self.by_component.get(component_id, ())
        )

    def add(self, fault: Fault) -> None:
        self.by_component.setdefault(fault.component_id, []).append(fault)

    def status_at(self, component_id: str, t: int) -> str | None:
        for f in self.by_component.get(component_id, ()):
            if f.start_us <= t < f.end_us:
                return f.status
        return None

    def fault_at(self, component_id: str, t: int) -> Fault | None:
        for f in self.by_component.get(component_id, ()):
            if f.start_us <= t < f.end_us:
                return f
        return None

    def all(self) -> list[Fault]:
        return sorted((f for fs in self.by_component.values() for f in fs),
                      key=lambda f: (f.start_us, f.component_id))


# --- jobs and their placement -------------------------------------------------------------


Placement = list[tuple[Server, list[str]]]


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


class Scheduler:
    """Places jobs on free GPUs of one site; a GPU is never booked twice at once.

    Jobs are placed in any order: ``free_from`` of a GPU is the latest end of its
    bookings, so a later placement starting before that end is refused.
    Staged (pinned) bookings are checked explicitly.
    """

    def __init__(self, fleet: Fleet, window: Window, installed: dict[str, int]) -> None:
        self.free_from: dict[str, list[int]] = {}
        self.rack_of: dict[str, Rack] = {}
        for rack in fleet.racks():
            ready = installed.get(rack.id, window.start_us - HOUR_US) + 10 * MINUTE_US
            for server in rack.servers:
                self.free_from[server.id] = [ready] * len(server.gpu_ids)
                self.rack_of[server.id] = rack
        self.pinned: dict[str, list[tuple[int, int]]] = {}
        self.last_end: dict[str, int] = {}

    def _is_free(self, server: Server, index: int, start: int, end: int) -> bool:
        if self.free_from[server.id][index] > start:
            return False
        pins = self.pinned.get(server.gpu_ids[index])
        return pins is None or all(end <= lo or hi <= start for lo, hi in pins)

    def _collect(self, servers: Iterable[Server], want: int, start: int, end: int
                 ) -> tuple[Placement, list[tuple[Server, int]]]:
        placement: Placement = []
        taken: list[tuple[Server, int]] = []
        for server in servers:
            free = [i for i in range(len(server.gpu_ids)) if self._is_free(server, i, start, end)]
            free = free[: want - len(taken)]
            if free:
                placement.append((server, [server.gpu_ids[i] for i in free]))
                taken.extend((server, i) for i in free)
            if len(taken) == want:
                break
        return placement, taken

    def place(self, site: Site, want: int, start: int, end: int, rng: random.Random
              ) -> Placement | None:
        racks = list(site.racks)
        rng.shuffle(racks)
        servers = [s for r in racks for s in r.servers]
        placement, taken = self._collect(servers, want, start, end)
        if len(taken) < want:
            return None
        for server, i in taken:
            self.free_from[server.id][i] = end
            self.last_end[server.id] = max(self.last_end.get(server.id, 0), end)
        return placement

    def pin(self, rack: Rack, want: int, start: int, end: int) -> Placement | None:
        placement, taken = self._collect(rack.servers, want, start, end)
        if len(taken) < want:
            return None
        for server, i in taken:
            self.pinned.setdefault(server.gpu_ids[i], []).append((start, end))
            self.last_end[server.id] = max(self.last_end.get(server.id, 0), end)
        return placement


# --- artifacts: replicas, accesses, evictions ---------------------------------------------


@dataclass(slots=True)
class Replica:
    artifact_id: str
    site_id: str
    tier: int
    since_us: int | None  # replicated at (None: at its first access, in the window)
    hits: int = 0
    accesses: list[int] = field(default_factory=list)


class ArtifactBook:
    """Where artifacts are cached; one replica (one interval) per (artifact, site) pair."""

    def __init__(self) -> None:
        self.replicas: dict[tuple[str, str], Replica] = {}

    def replicate(self, artifact_id: str, site_id: str, tier: int, t: int | None,
                  hits: int = 0) -> None:
        key = (artifact_id, site_id)
        if key not in self.replicas:
            self.replicas[key] = Replica(artifact_id, site_id, tier, t, hits)

    def access(self, artifact_id: str, site_id: str, t: int, new_tier: int) -> None:
        self.replicate(artifact_id, site_id, new_tier, None)
        self.replicas[(artifact_id, site_id)].accesses.append(t)


# --- the timeline ---------------------------------------------------------------------------


class Timeline:
    """The planned window of one fleet; :meth:`clean_events` streams it in event-time order."""

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
        self.artifacts = ArtifactBook()
        self.sites = {s.id: s for s in fleet.sites}
        self.racks = {r.id: r for r in fleet.racks()}
        self._rng = {name: random.Random(f"{config.seed}:{name}")
                     for name in ("racks", "moves", "faults", "jobs", "artifacts")}

    @classmethod
    def plan(cls, config: SimulationConfig) -> Timeline:
        timeline = cls(config, build_fleet(config), window_of(config))
        timeline._plan()
        return timeline

    def _plan(self) -> None:
        self._plan_added_racks()
        self.cooling = Cooling(self.fleet, self.installed)
        self.scheduler = Scheduler(self.fleet, self.window, self.installed)
        self._plan_moves()
        self._stage_incidents()
        self._schedule_jobs()
        self._random_faults()
        self._fail_jobs_without_cooling()
        self._number_jobs()
        self._plan_artifacts()
        self._emit_jobs()
        self._emit_faults()
        self._remove_idle_servers()
        self.planned.sort(key=event_time_of)

    # --- layout changes in the window ---------------------------------------------------

    def _plan_added_racks(self) -> None:
        rng = self._rng["racks"]
        for site in self.fleet.sites:
            for rack in site.racks:
                if rack.added_in_window:
                    t = self.window.at(rng.uniform(0.1, 0.5))
                    self.installed[rack.id] = t
                    self.planned.extend(
                        self._rack_installation(self.ids, site, rack, t, 10_000))
                    self.planned.append(inventory_event(
                        self.ids(Topic.INVENTORY), t + 5 * MINUTE_US, "updated", site.id,
                        attributes={"capacity_kw": f"{site.capacity_kw(with_added=True):g}"}))

    @staticmethod
    def _rack_installation(ids: EventIds, site: Site, rack: Rack, t: int, step: int
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

    def _plan_moves(self) -> None:
        rng = self._rng["moves"]
        candidates: list[tuple[Rack, list[str], list[str]]] = []
        for site in self.fleet.sites:
            cooled = [c for r in site.racks if not r.added_in_window for c in r.cdu_ids]
            for rack in site.racks:
                targets = [c.id for c in site.cdus if c.id not in rack.cdu_ids]
                if targets and not rack.added_in_window:
                    shared = [c for c in rack.cdu_ids if cooled.count(c) > 1]
                    candidates.append((rack, shared or list(rack.cdu_ids), targets))
        picked = rng.sample(candidates, min(self.config.rack_moves, len(candidates)))
        for rack, sources, targets in picked:
            linked = self.window.at(rng.uniform(0.1, 0.3))
            move = RackMove(rack, rng.choice(sources), rng.choice(targets), linked,
                            linked + _between(rng, 2 * MINUTE_US, 10 * MINUTE_US))
            self.moves.append(move)
            self.cooling.move(move)
            self.planned.append(inventory_event(
                self.ids(Topic.INVENTORY), move.linked_us, "linked", rack.id,
                relation="cooled_by", target_id=move.to_cdu))
            self.planned.append(inventory_event(
                self.ids(Topic.INVENTORY), move.unlinked_us, "unlinked", rack.id,
                relation="cooled_by", target_id=move.from_cdu))

    # --- staged incidents: CDU faults over running jobs -------------------------------------

    def _stage_incidents(self) -> None:
        """CDU faults over jobs on racks they cool, and over a rack moved away before."""
        rng, w = self._rng["faults"], self.window.length_us
        for move in self.moves:
            start = move.unlinked_us + int(w * rng.uniform(0.08, 0.25))
            end = start + int(w * rng.uniform(0.04, 0.1))
            if not (self._cdu_fault_possible(move.from_cdu, start, end) and self._pin_job(
                    move.rack, start, earliest=move.unlinked_us + MINUTE_US)):
                continue
            self._cdu_fault(move.from_cdu, start, end)
            still_cooled = self.cooling.racks_cooled_by(move.from_cdu, start)
            if still_cooled:
                self._pin_job(self.racks[rng.choice(sorted(still_cooled))], start)
        cdus = [c for c in self.fleet.cdus() if self.cooling.racks_of_cdu.get(c.id)]
        staged = 0
        for _ in range(10 * self.config.staged_cdu_faults):
            if staged == self.config.staged_cdu_faults or not cdus:
                break
            cdu = rng.choice(cdus)
            if staged == 0:  # the first one is still open at the end of the window
                start, end = self.window.at(rng.uniform(0.8, 0.9)), INF
            else:
                start = self.window.at(rng.uniform(0.15, 0.75))
                end = start + int(w * rng.uniform(0.03, 0.08))
            racks = sorted(self.cooling.racks_cooled_by(cdu.id, start))
            racks = [r for r in racks if self.installed.get(r, -INF) < start - HOUR_US]
            if not racks or not self._cdu_fault_possible(cdu.id, start, end):
                continue
            if self._pin_job(self.racks[rng.choice(racks)], start):
                self._cdu_fault(cdu.id, start, end)
                staged += 1

    def _cdu_fault_possible(self, cdu_id: str, start: int, end: int) -> bool:
        return start < self.window.end_us and self.faults.is_free(cdu_id, start, end)

    def _cdu_fault(self, cdu_id: str, start: int, end: int) -> None:
        rng = self._rng["faults"]
        site_id = self.racks[self.cooling.racks_of_cdu[cdu_id][0]].site_id
        self.faults.add(Fault(cdu_id, site_id, "fault", rng.choice(CDU_FAULT_CODES), "critical",
                              start, end))

    def _pin_job(self, rack: Rack, fault_start: int, earliest: int | None = None) -> bool:
        """A job on ``rack`` that is running when a fault starts."""
        rng, w = self._rng["faults"], self.window.length_us
        lo = max(self.window.start_us + MINUTE_US, earliest or -INF)
        start = max(lo, fault_start - int(w * rng.uniform(0.02, 0.08)))
        end = fault_start + int(w * rng.uniform(0.05, 0.2))
        if start >= fault_start:
            return False
        site = self.sites[rack.site_id]
        want = rack.generation.gpus_per_server * rng.choice((1, 2))
        placement = self.scheduler.pin(rack, want, start, end)
        if placement is None:
            return False
        job = self._new_job(rng, site, start - _between(rng, 5 * SECOND_US, 3 * MINUTE_US),
                            kind=rng.choice(("training", "inference", "batch_inference")))
        job.gpus_requested, job.start_us, job.end_us = want, start, end
        job.duration_us = end - start
        job.placement = placement
        self.jobs.append(job)
        return True

    # --- the workload ------------------------------------------------------------------------

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
                  inputs, submit, int(_log_uniform(rng, lo, hi) * MINUTE_US))
        if rng.random() < 0.12:
            job.outcome, job.exit_reason = "failed", rng.choice(FAILURE_REASONS)
        return job

    def _datasets_for(self, rng: random.Random, site: Site, count: int) -> list[Dataset]:
        local = [d for d in self.fleet.datasets if d.jurisdiction == site.jurisdiction]
        pool = local if local and rng.random() < 0.8 else list(self.fleet.datasets)
        return rng.sample(pool, min(count, len(pool)))

    def _schedule_jobs(self) -> None:
        rng, window = self._rng["jobs"], self.window
        rate_per_us = self.config.jobs_per_site_per_hour / HOUR_US
        for site in self.fleet.sites:
            if rate_per_us <= 0:
                break
            t = window.start_us + int(rng.expovariate(rate_per_us))
            while t < window.end_us:
                job = self._new_job(rng, site, t)
                self._start(job, rng)
                self.jobs.append(job)
                t += max(1, int(rng.expovariate(rate_per_us)))

    def _start(self, job: Job, rng: random.Random) -> None:
        first = job.submit_us + _between(rng, 2 * SECOND_US, 2 * MINUTE_US)
        for delay in START_ATTEMPTS_US:
            start = first + delay + (_between(rng, 0, MINUTE_US) if delay else 0)
            end = start + job.duration_us
            placement = self.scheduler.place(job.site, job.gpus_requested, start, end, rng)
            if placement is not None:
                job.start_us, job.end_us, job.placement = start, end, placement
                return
        job.outcome, job.exit_reason = "cancelled", "no_capacity"
        job.end_us = first + START_ATTEMPTS_US[-1] + 2 * MINUTE_US

    def _number_jobs(self) -> None:
        self.jobs.sort(key=lambda j: (j.submit_us, j.site.id))
        width = max(6, len(str(len(self.jobs))))
        for n, job in enumerate(self.jobs, start=1):
            job.id = f"job:j{n:0{width}d}"

    # --- random faults, and what a lost cooling loop does to jobs -----------------------------

    def _random_faults(self) -> None:
        rng, window = self._rng["faults"], self.window
        days = self.config.hours / 24
        plans: list[tuple[list[Cdu | PowerShelf], float, tuple[str, ...], tuple[str, ...]]]
        plans = [
            ([*self.fleet.cdus()], self.config.cdu_fault_rate,
             CDU_FAULT_CODES, CDU_DEGRADED_CODES),
            ([*self.fleet.power_shelves()], self.config.power_shelf_fault_rate,
             SHELF_FAULT_CODES, SHELF_DEGRADED_CODES),
        ]
        for components, rate, fault_codes, degraded_codes in plans:
            for _ in range(_poisson(rng, len(components) * rate * days)):
                component = rng.choice(components)
                start = window.at(rng.random())
                end = start + int(_log_uniform(rng, 5, 480) * MINUTE_US)
                if not self.faults.is_free(component.id, start, end):
                    continue
                if rng.random() < 0.6:
                    status, code, severity = "fault", rng.choice(fault_codes), "critical"
                else:
                    status, code = "degraded", rng.choice(degraded_codes)
                    severity = rng.choice(("major", "minor"))
                self.faults.add(Fault(component.id, component.site_id, status, code, severity,
                                      start, end))

    def _fail_jobs_without_cooling(self) -> None:
        """Jobs on a rack whose every CDU is in fault fail a few minutes into the fault."""
        rng = self._rng["faults"]
        by_rack: dict[str, list[Job]] = {}
        for job in self.jobs:
            for rack_id in {self.scheduler.rack_of[s.id].id for s, _ in job.placement}:
                by_rack.setdefault(rack_id, []).append(job)
        for fault in self.faults.all():
            if fault.status != "fault" or not fault.component_id.startswith("cdu:"):
                continue
            for rack_id in self.cooling.racks_cooled_by(fault.component_id, fault.start_us):
                cdus = self.cooling.at(rack_id, fault.start_us)
                if any(self.faults.status_at(c, fault.start_us) != "fault" for c in cdus):
                    continue  # a second, live CDU keeps the rack running
                for job in by_rack.get(rack_id, ()):
                    assert job.start_us is not None
                    if job.start_us < fault.end_us and job.end_us > fault.start_us:
                        end = (max(job.start_us, fault.start_us)
                               + _between(rng, MINUTE_US, 8 * MINUTE_US))
                        if end < job.end_us:
                            job.end_us, job.outcome = end, "failed"
                            job.exit_reason = COOLING_FAULT

    # --- artifacts ---------------------------------------------------------------------------

    def _plan_artifacts(self) -> None:
        rng = self._rng["artifacts"]
        self.planned.extend(self._catalogue_events(rng))
        self._note_accesses(rng)
        self.planned.extend(self._replica_events(rng))
        for job in self.jobs:
            self._register_outputs(rng, job)

    def _catalogue_events(self, rng: random.Random) -> list[SimEvent]:
        """Models, weights and datasets registered and replicated before the window."""
        sites = [s.id for s in self.fleet.sites]
        events: list[SimEvent] = []
        for model in self.fleet.models:
            events.append(artifact_event("", 0, "registered", model.id, artifact_kind="model",
                                         attributes=model.attributes()))
            events.append(artifact_event(
                "", 0, "registered", model.weights_id, artifact_kind="weights",
                content_hash=model.weights_hash, size_bytes=model.weights_size,
                model_id=model.id))
            chosen = rng.sample(sites, min(len(sites), rng.randint(1, 6)))
            for n, site_id in enumerate(chosen):
                tier = 2 if n == 0 else rng.choice((0, 1, 1))
                self.artifacts.replicate(model.weights_id, site_id, tier, 0,
                                         hits=rng.randint(0, 500) if tier < 2 else 0)
        for d in self.fleet.datasets:
            events.append(artifact_event(
                "", 0, "registered", d.id, artifact_kind="dataset", content_hash=d.content_hash,
                size_bytes=d.size_bytes,
                attributes={"name": d.name, "jurisdiction": d.jurisdiction}))
            local = [s.id for s in self.fleet.sites if s.jurisdiction == d.jurisdiction] or sites
            for site_id in rng.sample(local, min(len(local), 2)):
                self.artifacts.replicate(d.id, site_id, 1, 0)
        replicas = list(self.artifacts.replicas.values())
        events += [artifact_event("", 0, "replicated", r.artifact_id, site_id=r.site_id,
                                  tier=r.tier) for r in replicas]
        first = self.window.start_us - 30 * MINUTE_US
        step = max(1, (29 * MINUTE_US) // len(events))
        for n, sim in enumerate(events):  # registrations first, then replicas, a step apart
            sim.event["event_id"] = self.ids(Topic.ARTIFACTS)
            sim.event["event_time"] = first + n * step
        for n, replica in enumerate(replicas, start=len(events) - len(replicas)):
            replica.since_us = first + n * step
        return events

    def _note_accesses(self, rng: random.Random) -> None:
        for job in sorted(self.jobs, key=lambda j: j.start_us or INF):
            if job.start_us is None or job.start_us >= self.window.end_us:
                continue
            site = job.site.id
            t = job.start_us + _between(rng, 0, 20 * SECOND_US)
            self.artifacts.access(job.model.weights_id, site, t, 0)
            for dataset in job.inputs[1:]:
                self.artifacts.access(dataset, site, t + SECOND_US, 1)
            if job.kind in ("inference", "agentic"):
                stop = min(job.end_us, self.window.end_us)
                for _ in range(12):
                    t += _between(rng, 20 * MINUTE_US, 60 * MINUTE_US)
                    if t >= stop:
                        break
                    self.artifacts.access(job.model.weights_id, site, t, 0)

    def _replica_events(self, rng: random.Random) -> Iterator[SimEvent]:
        ids, end = self.ids, self.window.end_us
        for key in sorted(self.artifacts.replicas):
            replica = self.artifacts.replicas[key]
            times = sorted(replica.accesses)
            for i in range(1, len(times)):  # one value per edge and event time
                times[i] = max(times[i], times[i - 1] + 1)
            if replica.since_us is None:
                replica.since_us = times[0] - _between(rng, SECOND_US, MINUTE_US)
                yield artifact_event(ids(Topic.ARTIFACTS), replica.since_us, "replicated",
                                     replica.artifact_id, site_id=replica.site_id,
                                     tier=replica.tier)
            previous = replica.since_us
            for t in [*times, end]:
                if (replica.tier == 0 and t - previous >= IDLE_GAP_US
                        and rng.random() < 0.5):
                    evicted = previous + _between(rng, 2 * HOUR_US, t - previous - MINUTE_US)
                    yield artifact_event(ids(Topic.ARTIFACTS), evicted, "evicted",
                                         replica.artifact_id, site_id=replica.site_id)
                    break
                if t == end:
                    break
                replica.hits += rng.randint(1, 50)
                yield artifact_event(ids(Topic.ARTIFACTS), t, "accessed", replica.artifact_id,
                                     site_id=replica.site_id, hits=replica.hits)
                previous = t

    def _register_outputs(self, rng: random.Random, job: Job) -> None:
        if job.outcome != "finished" or job.end_us >= self.window.end_us:
            return
        ids, model = self.ids, job.model
        t = job.end_us - _between(rng, 10 * SECOND_US, 2 * MINUTE_US)
        if job.kind == "training":
            digest = content_hash(rng)
            checkpoint = artifact_id_of(digest)
            job.outputs.append(checkpoint)
            self.planned.append(artifact_event(
                ids(Topic.ARTIFACTS), t, "registered", checkpoint, artifact_kind="checkpoint",
                content_hash=digest, size_bytes=model.weights_size * 3, model_id=model.id,
                derived_from=job.inputs))
            replicated = job.end_us + _between(rng, 5 * SECOND_US, MINUTE_US)
            if replicated < self.window.end_us:
                self.planned.append(artifact_event(
                    ids(Topic.ARTIFACTS), replicated, "replicated", checkpoint,
                    site_id=job.site.id, tier=1))
            if rng.random() < 0.25:
                self._register_fine_tune(rng, job, checkpoint, t + SECOND_US)
        elif job.kind == "batch_inference" or (job.kind == "agentic" and rng.random() < 0.3):
            digest = content_hash(rng)
            output = artifact_id_of(digest)
            job.outputs.append(output)
            self.planned.append(artifact_event(
                ids(Topic.ARTIFACTS), t, "registered", output, artifact_kind="eval_output",
                content_hash=digest, size_bytes=rng.randrange(10**6, 10**10),
                derived_from=job.inputs))

    def _register_fine_tune(self, rng: random.Random, job: Job, checkpoint: str, t: int) -> None:
        base = job.model
        name = f"{base.name}-ft{job.id.split(':j')[1]}"
        model_id = f"model:m-{name}"
        digest = content_hash(rng)
        weights = artifact_id_of(digest)
        datasets = [i for i in job.inputs if i.startswith("dataset:")]
        self.planned.append(artifact_event(
            self.ids(Topic.ARTIFACTS), t, "registered", model_id, artifact_kind="model",
            derived_from=[base.id, *datasets],
            attributes={"name": name, "family": base.family, "params_b": f"{base.params_b:g}"}))
        self.planned.append(artifact_event(
            self.ids(Topic.ARTIFACTS), t + SECOND_US, "registered", weights,
            artifact_kind="weights", content_hash=digest, size_bytes=base.weights_size,
            model_id=model_id, derived_from=[checkpoint]))
        job.outputs += [weights, model_id]

    # --- job and fault events ---------------------------------------------------------------

    def _emit_jobs(self) -> None:
        ids, end = self.ids, self.window.end_us
        for job in self.jobs:
            if job.submit_us >= end:
                continue
            self.planned.append(job_event(
                ids(Topic.JOBS), job.submit_us, "submitted", job.id,
                application_id=job.application_id, user_id=job.user_id, job_kind=job.kind,
                gpus_requested=job.gpus_requested, model_id=job.model.id, inputs=job.inputs))
            if job.start_us is not None and job.start_us < end:
                self.planned.append(job_event(ids(Topic.JOBS), job.start_us, "started", job.id,
                                              placement=job.placement))
            if job.end_us < end:
                self.planned.append(job_event(
                    ids(Topic.JOBS), job.end_us, job.outcome, job.id, placement=job.placement,
                    outputs=job.outputs, exit_reason=job.exit_reason))

    def _emit_faults(self) -> None:
        ids, end = self.ids, self.window.end_us
        for f in self.faults.all():
            self.planned.append(telemetry_event(
                ids(Topic.TELEMETRY), f.start_us, "status", f.component_id, f.site_id,
                status=f.status, fault_id=f.fault_id, fault_code=f.code, severity=f.severity))
            if f.end_us < end:
                self.planned.append(telemetry_event(
                    ids(Topic.TELEMETRY), f.end_us, "status", f.component_id, f.site_id,
                    status="ok", fault_id=f.fault_id, fault_code=f.code, severity=f.severity))

    def _remove_idle_servers(self) -> None:
        """Decommission a few servers that ran nothing since and will run nothing more."""
        rng, window = self._rng["racks"], self.window
        sampled = {s for s, _ in self.telemetry.sampled_servers()}
        idle = [s for s in self.fleet.servers()
                if s.id not in sampled and s.rack_id not in self.installed
                and max(self.scheduler.last_end.get(s.id, 0), window.start_us)
                < window.at(0.7)]
        for server in rng.sample(idle, min(len(idle), max(1, len(self.fleet.sites) // 20))):
            last = max(self.scheduler.last_end.get(server.id, 0), window.start_us)
            t = last + _between(rng, 10 * MINUTE_US, HOUR_US)
            self.planned.append(inventory_event(self.ids(Topic.INVENTORY), t, "removed",
                                                server.id, parent_id=server.rack_id))

    # --- streaming ----------------------------------------------------------------------------

    @property
    def telemetry(self) -> Telemetry:
        if not hasattr(self, "_telemetry"):
            self._telemetry = Telemetry(self)
        return self._telemetry

    def initial_inventory(self) -> Iterator[SimEvent]:
        """Everything installed and linked before the window, in containment order."""
        ids, start = EventIds("i"), self.window.start_us
        step = min(10_000, (90 * MINUTE_US) // max(1, self.initial_inventory_count()))
        t = start - 2 * HOUR_US
        for site in self.fleet.sites:
            specs: list[tuple[str, str | None, dict[str, str]]] = [
                (site.id, None, site.attributes()),
                (site.leaf_switch_id, site.id, {"role": "leaf"}),
            ]
            specs += [(c.id, site.id, {"capacity_kw": f"{c.capacity_kw:g}"}) for c in site.cdus]
            specs += [(p.id, site.id, {"capacity_kw": f"{p.capacity_kw:g}"})
                      for p in site.power_shelves]
            for component, parent, attributes in specs:
                yield inventory_event(ids(Topic.INVENTORY), t, "installed", component,
                                      parent_id=parent, attributes=attributes)
                t += step
            for rack in site.racks:
                if not rack.added_in_window:
                    for sim in self._rack_installation(ids, site, rack, t, step):
                        t = sim.event["event_time"] + step
                        yield sim
        for instrument in self.fleet.instruments:
            yield inventory_event(ids(Topic.INVENTORY), t, "installed", instrument.id,
                                  parent_id=instrument.site_id,
                                  attributes={"kind": instrument.kind})
            t += step

    def initial_inventory_count(self) -> int:
        count = len(self.fleet.instruments)
        for site in self.fleet.sites:
            count += 2 + len(site.cdus) + len(site.power_shelves)
            for rack in site.racks:
                if not rack.added_in_window:
                    count += 2 + len(rack.servers) + rack.gpu_count
                    count += len(rack.cdu_ids) + len(rack.power_shelf_ids)
        return count

    def clean_count(self) -> int:
        """How many clean events :meth:`clean_events` yields."""
        return self.initial_inventory_count() + len(self.planned) + self.telemetry.count()

    def clean_events(self) -> Iterator[SimEvent]:
        """Every clean event, in event-time order."""
        return heapq.merge(self.initial_inventory(), self.planned, self.telemetry.events(),
                           key=event_time_of)


# --- telemetry --------------------------------------------------------------------------------


@dataclass(slots=True)
class _RackLoad:
    rack: Rack
    installed_us: int
    changes: list[tuple[int, int]]  # (time, busy GPUs delta), sorted
    cursor: int = 0
    busy: int = 0

    def busy_fraction(self, t: int) -> float:
        changes = self.changes
        while self.cursor < len(changes) and changes[self.cursor][0] <= t:
            self.busy += changes[self.cursor][1]
            self.cursor += 1
        return self.busy / self.rack.gpu_count


@dataclass(slots=True)
class _GpuSample:
    gpu_id: str
    site_id: str
    rack: _RackLoad
    generation: GpuGeneration
    bookings: list[tuple[int, int, str]]  # (start, end, job kind), sorted, disjoint
    cursor: int = 0

    def job_kind(self, t: int) -> str | None:
        while self.cursor < len(self.bookings) and self.bookings[self.cursor][1] <= t:
            self.cursor += 1
        if self.cursor < len(self.bookings) and self.bookings[self.cursor][0] <= t:
            return self.bookings[self.cursor][2]
        return None


@dataclass(slots=True)
class _SiteEnergy:
    site: Site
    racks: list[_RackLoad]
    gpus: list[_GpuSample]
    battery_soc: float
    cloud: float


class Telemetry:
    """Readings every ``telemetry_interval_s`` (plus jitter) of CDUs, power shelves, a sample
    of GPUs, and each site's energy state; generated lazily, tick by tick."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        config, window = timeline.config, timeline.window
        self.interval_us = config.telemetry_interval_s * SECOND_US
        self.jitter_us = min(self.interval_us // 2, MINUTE_US)
        last = (window.end_us - self.jitter_us - 1 - window.start_us) // self.interval_us
        self.ticks = [window.start_us + k * self.interval_us for k in range(max(0, last + 1))]
        self._rng = random.Random()
        self._sample_rng = random.Random(f"{config.seed}:gpu-sample")
        self._samples = {
            rack.id: self._sample_rng.sample(
                [(s.id, g) for s in rack.servers for g in s.gpu_ids],
                min(config.gpus_sampled_per_rack, rack.gpu_count))
            for rack in timeline.fleet.racks()
        }

    def sampled_servers(self) -> list[tuple[str, str]]:
        return [pair for pairs in self._samples.values() for pair in pairs]

    def count(self) -> int:
        fleet, installed = self.timeline.fleet, self.timeline.installed
        per_tick = sum(1 + 2 * len(s.cdus) + len(s.power_shelves) for s in fleet.sites)
        total = per_tick * len(self.ticks)
        for rack in fleet.racks():
            since = installed.get(rack.id, -INF)
            ticks = len(self.ticks) - bisect.bisect_left(self.ticks, since)
            total += 3 * len(self._samples[rack.id]) * ticks
        return total

    def _site_states(self) -> list[_SiteEnergy]:
        timeline = self.timeline
        changes: dict[str, list[tuple[int, int]]] = {}
        bookings: dict[str, list[tuple[int, int, str]]] = {
            g: [] for pairs in self._samples.values() for _, g in pairs}
        for job in timeline.jobs:
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
        states = []
        for site in timeline.fleet.sites:
            racks: list[_RackLoad] = []
            samples: list[_GpuSample] = []
            for rack in site.racks:
                load = _RackLoad(rack, timeline.installed.get(rack.id, -INF),
                                 sorted(changes.get(rack.id, [])))
                racks.append(load)
                samples += [
                    _GpuSample(g, site.id, load, rack.generation, sorted(bookings.get(g, [])))
                    for _, g in self._samples[rack.id]
                ]
            states.append(_SiteEnergy(site, racks, samples, self._rng.uniform(0.4, 0.9),
                                      self._rng.uniform(0.6, 1.0)))
        return states

    def events(self) -> Iterator[SimEvent]:
        self._rng = random.Random(f"{self.timeline.config.seed}:telemetry")
        states = self._site_states()
        counter = [0]
        for t in self.ticks:
            batch: list[SimEvent] = []
            for state in states:
                self._site_tick(state, t, batch, counter)
            batch.sort(key=event_time_of)
            yield from batch

    def _site_tick(self, state: _SiteEnergy, t: int, out: list[SimEvent],
                   counter: list[int]) -> None:
        rng, faults, cooling = self._rng, self.timeline.faults, self.timeline.cooling
        gauss, random_, jitter = rng.gauss, rng.random, self.jitter_us
        site = state.site

        def next_id() -> str:
            counter[0] += 1
            return f"telemetry-r{counter[0]:010d}"

        loads: dict[str, float] = {}
        for rack_load in state.racks:
            if t < rack_load.installed_us:
                continue
            fraction = rack_load.busy_fraction(t)
            loads[rack_load.rack.id] = (rack_load.rack.capacity_kw * (0.18 + 0.72 * fraction)
                                        * (1 + gauss(0, 0.015)))
        heat = {c.id: 0.0 for c in site.cdus}
        output = {p.id: 0.0 for p in site.power_shelves}
        impaired: set[str] = set()
        for rack in site.racks:
            load = loads.get(rack.id)
            if load is None:
                continue
            cdus = cooling.at(rack.id, t)
            statuses = [faults.status_at(c, t) for c in cdus]
            if any(statuses):
                impaired.add(rack.id)
            live = [c for c, s in zip(cdus, statuses, strict=True) if s != "fault"] or cdus
            for c in live:
                heat[c] += load / len(live)
            shelves = [p for p in rack.power_shelf_ids if faults.status_at(p, t) != "fault"]
            for p in shelves or rack.power_shelf_ids:
                output[p] += load / len(shelves or rack.power_shelf_ids)
        thermal_capacity = 0.0
        for cdu in site.cdus:
            when = t + int(random_() * jitter)
            fault = faults.fault_at(cdu.id, t)
            ratio = min(1.5, heat[cdu.id] / cdu.capacity_kw)
            supply = 44.0 + 3.0 * ratio + gauss(0, 0.2)
            flow = (40.0 + 1.5 * heat[cdu.id]) * (1 + gauss(0, 0.02))
            if fault is None or fault.status != "fault":
                thermal_capacity += cdu.capacity_kw
            if fault is not None and fault.status == "fault":
                minutes = (t - fault.start_us) / MINUTE_US
                supply += 6.0 + 6.0 * min(1.0, minutes / 30)
                flow *= 0.1
            elif fault is not None:
                supply, flow = supply + 2.5, flow * 0.75
            out.append(_reading(next_id(), when, cdu.id, site.id, "supply_temp_c",
                                round(supply, 2)))
            out.append(_reading(next_id(), when, cdu.id, site.id, "flow_lpm", round(flow, 1)))
        for shelf in site.power_shelves:
            kw = output[shelf.id] * (1 + gauss(0, 0.01))
            if faults.status_at(shelf.id, t) == "fault":
                kw = 0.0
            out.append(_reading(next_id(), t + int(random_() * jitter), shelf.id, site.id,
                                "output_kw", round(min(kw, shelf.capacity_kw * 1.05), 1)))
        for gpu in state.gpus:
            if t < gpu.rack.installed_us:
                continue
            when = t + int(random_() * jitter)
            kind = gpu.job_kind(t)
            lo, hi = JOB_UTILIZATION[kind] if kind else (0.0, 0.03)
            utilization = rng.uniform(lo, hi)
            generation = gpu.generation
            power = generation.idle_w + (generation.max_w - generation.idle_w) * utilization
            temperature = 33.0 + 40.0 * utilization + gauss(0, 1.0)
            if gpu.rack.rack.id in impaired:
                temperature += 6.0
            out.append(_reading(next_id(), when, gpu.gpu_id, site.id, "temperature_c",
                                round(min(temperature, 95.0), 1)))
            out.append(_reading(next_id(), when, gpu.gpu_id, site.id, "power_w",
                                round(max(0.0, power * (1 + gauss(0, 0.03))), 1)))
            out.append(_reading(next_id(), when, gpu.gpu_id, site.id, "utilization",
                                round(utilization, 3)))
        out.append(self._site_energy(state, t, next_id(), sum(loads.values()), thermal_capacity))

    def _site_energy(self, state: _SiteEnergy, t: int, event_id: str, load: float,
                     thermal_capacity: float) -> SimEvent:
        rng, site = self._rng, state.site
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
