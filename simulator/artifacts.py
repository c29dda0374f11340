"""The artifacts stream: the catalogue, where it is cached, how often it is read, evictions.

Models, their weights and the datasets are registered and replicated to a few
sites just before the window. In the window each job reads its weights and
datasets at its site (replicating them there first if need be), inference
jobs re-read their weights now and then, and a hot replica idle for hours may
be evicted. What jobs produce is in :mod:`fleetgraph.simulator.outputs`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator.config import HOUR_US, INF, MINUTE_US, SECOND_US, Window
from fleetgraph.simulator.draws import between
from fleetgraph.simulator.events import EventIds, SimEvent, artifact_event
from fleetgraph.simulator.fleet import Fleet
from fleetgraph.simulator.jobs import Job
from fleetgraph.simulator.outputs import output_events

IDLE_GAP_US = 3 * HOUR_US  # a hot replica idle this long may be evicted


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


def artifact_events(fleet: Fleet, window: Window, jobs: list[Job], ids: EventIds,
                    rng: random.Random) -> list[SimEvent]:
    """The catalogue before the window, its replicas and accesses, and the jobs' outputs."""
    book = ArtifactBook()
    events = _catalogue_events(fleet, window, book, ids, rng)
    _note_accesses(jobs, window, book, rng)
    events.extend(_replica_events(book, window.end_us, ids, rng))
    for job in jobs:
        events += output_events(job, window.end_us, ids, rng)
    return events


def _catalogue_events(fleet: Fleet, window: Window, book: ArtifactBook, ids: EventIds,
                      rng: random.Random) -> list[SimEvent]:
    """Models, weights and datasets registered and replicated in the half hour before the
    window: registrations first, then replicas, a step apart."""
    events = _register_catalogue(fleet, book, rng)
    replicas = list(book.replicas.values())
    events += [artifact_event("", 0, "replicated", r.artifact_id, site_id=r.site_id,
                              tier=r.tier) for r in replicas]
    first = window.start_us - 30 * MINUTE_US
    step = max(1, (29 * MINUTE_US) // len(events))
    for n, sim in enumerate(events):
        sim.event["event_id"] = ids(Topic.ARTIFACTS)
        sim.event["event_time"] = first + n * step
    for n, replica in enumerate(replicas, start=len(events) - len(replicas)):
        replica.since_us = first + n * step
    return events


def _register_catalogue(fleet: Fleet, book: ArtifactBook, rng: random.Random
                        ) -> list[SimEvent]:
    """The catalogue's registrations (not yet timed), and its replicas in ``book``: each
    model's weights hot at a few sites, each dataset at two sites of its jurisdiction."""
    sites = [s.id for s in fleet.sites]
    events: list[SimEvent] = []
    for model in fleet.models:
        events.append(artifact_event("", 0, "registered", model.id, artifact_kind="model",
                                     attributes=model.attributes()))
        events.append(artifact_event(
            "", 0, "registered", model.weights_id, artifact_kind="weights",
            content_hash=model.weights_hash, size_bytes=model.weights_size, model_id=model.id))
        chosen = rng.sample(sites, min(len(sites), rng.randint(1, 6)))
        for n, site_id in enumerate(chosen):
            tier = 2 if n == 0 else rng.choice((0, 1, 1))
            book.replicate(model.weights_id, site_id, tier, 0,
                           hits=rng.randint(0, 500) if tier < 2 else 0)
    for d in fleet.datasets:
        events.append(artifact_event(
            "", 0, "registered", d.id, artifact_kind="dataset", content_hash=d.content_hash,
            size_bytes=d.size_bytes, attributes={"name": d.name, "jurisdiction": d.jurisdiction}))
        local = [s.id for s in fleet.sites if s.jurisdiction == d.jurisdiction] or sites
        for site_id in rng.sample(local, min(len(local), 2)):
            book.replicate(d.id, site_id, 1, 0)
    return events


def _note_accesses(jobs: Iterable[Job], window: Window, book: ArtifactBook,
                   rng: random.Random) -> None:
    """Jobs read their inputs as they start; inference jobs re-read their weights."""
    for job in sorted(jobs, key=lambda j: j.start_us or INF):
        if job.start_us is None or job.start_us >= window.end_us:
            continue
        site = job.site.id
        t = job.start_us + between(rng, 0, 20 * SECOND_US)
        book.access(job.model.weights_id, site, t, 0)
        for dataset in job.inputs[1:]:
            book.access(dataset, site, t + SECOND_US, 1)
        if job.kind in ("inference", "agentic"):
            stop = min(job.end_us, window.end_us)
            for _ in range(12):
                t += between(rng, 20 * MINUTE_US, 60 * MINUTE_US)
                if t >= stop:
                    break
                book.access(job.model.weights_id, site, t, 0)


def _replica_events(book: ArtifactBook, end: int, ids: EventIds, rng: random.Random
                    ) -> Iterator[SimEvent]:
    """Each replica's accesses (replicated just before the first one if it was not cached),
    up to an eviction after an idle gap or the end of the window."""
    for key in sorted(book.replicas):
        replica = book.replicas[key]
        times = sorted(replica.accesses)
        for i in range(1, len(times)):  # one value per edge and event time
            times[i] = max(times[i], times[i - 1] + 1)
        if replica.since_us is None:
            replica.since_us = times[0] - between(rng, SECOND_US, MINUTE_US)
            yield artifact_event(ids(Topic.ARTIFACTS), replica.since_us, "replicated",
                                 replica.artifact_id, site_id=replica.site_id,
                                 tier=replica.tier)
        previous = replica.since_us
        for t in [*times, end]:
            if replica.tier == 0 and t - previous >= IDLE_GAP_US and rng.random() < 0.5:
                evicted = previous + between(rng, 2 * HOUR_US, t - previous - MINUTE_US)
                yield artifact_event(ids(Topic.ARTIFACTS), evicted, "evicted",
                                     replica.artifact_id, site_id=replica.site_id)
                break
            if t == end:
                break
            replica.hits += rng.randint(1, 50)
            yield artifact_event(ids(Topic.ARTIFACTS), t, "accessed", replica.artifact_id,
                                 site_id=replica.site_id, hits=replica.hits)
            previous = t
