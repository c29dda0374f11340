"""The question an audit bundle asks, and the graph's answer, from the auditors' queries.

See docs/queries.md ("Audit bundles"). The answer is built from ``residency``,
``lineage`` and ``lineage.job_sites``; what it adds is the list of the stored edges
and nodes it rests on, so a bundle can carry their provenance and a verifier can
read them again.

By the subject's type:

* dataset, artifact, model: ``residency`` is dataResidency over the window;
  ``lineage`` UP and DOWN to ``depth``, as recorded before the window's end.
* job: no residency (a job is not data); its lineage UP and DOWN.
* site: ``residency`` of the site: the items held there (``cached_at`` into the site,
  overlapping the window) and the items read by the jobs that ran there (a job on a
  server ``in_rack`` a rack ``in_site`` the site, its ``ran_on`` overlapping the
  window, whose site is the site by ``job_sites``); no lineage.

``jobs``: the jobs of the residency places and every job of the lineage, each with
its sites (``job_sites``) and its ``ran_on`` runs overlapping the window (server,
interval). ``sites``: every site of the places and of the jobs, with its
jurisdiction; ``jurisdictions``: those jurisdictions.

The edges it rests on: the lineage's stored edges (not the ``ran_at`` /
``in_jurisdiction`` steps, which read node properties), the ``cached_at`` of every
holding place, the ``read`` of every processing job, the ``ran_on`` of every run,
and for a site the ``in_rack`` / ``in_site`` edges that put its jobs' servers there.
The nodes: the subject, the jobs (their ``site_id``) and the sites (their
``jurisdiction``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries import lineage as lineage_query
from fleetgraph.serving.queries import residency as residency_query
from fleetgraph.serving.queries.audit_records import EdgeKey, Json
from fleetgraph.serving.queries.intervals import recorded_by
from fleetgraph.serving.queries.lookup import kind_of, type_of
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

SUBJECT_TYPES = ("dataset", "artifact", "model", "job", "site")
DEFAULT_DEPTH = lineage_query.DEFAULT_DEPTH


@dataclass(frozen=True, slots=True)
class AuditQuestion:
    """What is asked: a subject, a window ``[start, end)`` in µs (a side may be open),
    the allowed jurisdictions (``None``: no violations asked) and the lineage depth."""

    subject: str
    start: int | None = None
    end: int | None = None
    allowed: tuple[str, ...] | None = None
    depth: int = DEFAULT_DEPTH

    @property
    def window(self) -> TimeWindow | None:
        if self.start is None and self.end is None:
            return None
        return TimeWindow(self.start, self.end)

    @property
    def as_of(self) -> int | None:
        """The lineage's ``at``: the last µs of the window (``None``: every edge)."""
        return None if self.end is None else self.end - 1

    def check(self) -> None:
        if type_of(self.subject) not in SUBJECT_TYPES:
            raise InvalidArgument(f"an audit asks about a {', '.join(SUBJECT_TYPES)}; "
                                  f"{self.subject!r} is none of these")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise InvalidArgument("the window ends before it starts ('to' < 'from')")
        if not 0 <= self.depth <= lineage_query.MAX_DEPTH:
            raise InvalidArgument(
                f"depth must be between 0 and {lineage_query.MAX_DEPTH}, got {self.depth}")


@dataclass
class AuditAnswer:
    """The answer (JSON) and the keys of the records it rests on."""

    json: Json
    edges: set[EdgeKey] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)


def answer(store: GraphStore, question: AuditQuestion) -> AuditAnswer:
    """The graph's answer to ``question`` (NotFound when the subject is not in it)."""
    question.check()
    out = AuditAnswer({})
    subject_type = type_of(question.subject)
    places: list[residency_query.Place] = []
    residency: Json | None = None
    if subject_type == "site":
        residency, places = _site_residency(store, question, out)
    elif subject_type != "job":
        found = residency_query.data_residency(
            store, question.subject, question.allowed or (), window=question.window)
        places = found.places
        residency = _residency_json(found.items, places, found.truncated, question.allowed)
    lineage = None if subject_type == "site" else {
        way.lower(): _lineage_json(lineage_query.lineage(
            store, question.subject, way, question.depth, at_us=question.as_of), out)
        for way in ("UP", "DOWN")
    }
    for place in places:
        if place.held:
            out.edges.add(("cached_at", place.item_id, place.site_id))
        out.edges.update(("read", job, place.item_id) for job in place.jobs)
    jobs = {job for place in places for job in place.jobs}
    if lineage is not None:
        jobs |= {n["id"] for way in lineage.values() for n in way["nodes"]
                 if kind_of(n["id"]) == "job"}
    out.json = {"residency": residency, "lineage": lineage,
                **_jobs_and_sites(store, sorted(jobs), places, question.window, out)}
    out.nodes |= {question.subject} | jobs
    return out


def _place_json(place: residency_query.Place) -> Json:
    return {"item": place.item_id, "site": place.site_id, "jurisdiction": place.jurisdiction,
            "jobs": list(place.jobs), "held": place.held, "held_from": place.held_from,
            "held_to": place.held_to}


def _residency_json(items: list[str], places: list[residency_query.Place], truncated: bool,
                    allowed: tuple[str, ...] | None) -> Json:
    outside = None if allowed is None else [
        _place_json(p) for p in places if p.jurisdiction not in allowed]
    return {"items": items, "places": [_place_json(p) for p in places],
            "violations": outside, "truncated": truncated}


def _lineage_json(found: lineage_query.Lineage, out: AuditAnswer) -> Json:
    stored = [e for e in found.edges
              if e.type not in (lineage_query.RAN_AT, lineage_query.IN_JURISDICTION)]
    out.edges.update((e.type, e.from_id, e.to_id) for e in stored)
    return {
        "nodes": [{"id": n.id, "distance": n.distance} for n in found.nodes],
        "edges": [{"type": e.type, "from": e.from_id, "to": e.to_id, "distance": e.distance}
                  for e in found.edges],
        "truncated": found.truncated,
    }


def _jobs_and_sites(store: GraphStore, jobs: list[str], places: list[residency_query.Place],
                    window: TimeWindow | None, out: AuditAnswer) -> Json:
    records = store.get_nodes(jobs) if jobs else {}
    sites_of = lineage_query.job_sites(store, jobs, records) if jobs else {}
    runs = store.neighbours("ran_on", jobs, Direction.OUT, window) if jobs else {}
    rows = []
    for job in jobs:
        job_runs = runs.get(job, [])
        out.edges.update(("ran_on", job, run.to_id) for run in job_runs)
        rows.append({"job": job, "sites": sites_of.get(job, []),
                     "runs": [{"server": r.to_id, "valid_from": r.props.get(VALID_FROM),
                               "valid_to": r.props.get(VALID_TO)} for r in job_runs]})
    site_ids = sorted({p.site_id for p in places}
                      | {s for sites in sites_of.values() for s in sites})
    site_records = store.get_nodes(site_ids) if site_ids else {}
    sites = [{"site": s, "jurisdiction": _jurisdiction(site_records.get(s))} for s in site_ids]
    out.nodes.update(site_ids)
    return {"jobs": rows, "sites": sites,
            "jurisdictions": sorted({s["jurisdiction"] for s in sites if s["jurisdiction"]})}


def _jurisdiction(record: Any) -> str | None:
    code = None if record is None else record.props.get("jurisdiction")
    return code if isinstance(code, str) and code else None


def _site_residency(store: GraphStore, question: AuditQuestion,
                    out: AuditAnswer) -> tuple[Json, list[residency_query.Place]]:
    """The items held at the site and read by the jobs that ran there, in the window."""
    site, window = question.subject, question.window
    found = store.get_nodes([site])
    racks = [e for e in store.neighbours("in_site", [site], Direction.IN, window)[site]
             if kind_of(e.from_id) == "rack"]
    in_racks = _edges_in(store, "in_rack", [e.from_id for e in racks], window, "server")
    ran = _edges_in(store, "ran_on", [e.from_id for e in in_racks], window, "job")
    candidates = sorted({e.from_id for e in ran})
    sites_of = lineage_query.job_sites(store, candidates, store.get_nodes(candidates))
    jobs = [j for j in candidates if site in sites_of[j]]
    servers = {e.to_id for e in ran if e.from_id in jobs}
    racks_used = {e.to_id for e in in_racks if e.from_id in servers}
    out.edges.update(("in_rack", e.from_id, e.to_id) for e in in_racks if e.from_id in servers)
    out.edges.update(("in_site", r, site) for r in racks_used)
    readers: dict[str, list[str]] = {}
    reads = store.neighbours("read", jobs, Direction.OUT) if jobs else {}
    for job in jobs:
        for edge in reads.get(job, []):
            if recorded_by(edge, question.as_of):
                readers.setdefault(edge.to_id, []).append(job)
    held = {e.from_id: e for e in store.neighbours("cached_at", [site], Direction.IN,
                                                    window)[site]}
    if site not in found and not racks and not held:
        raise NotFound(f"no site {site!r} in the graph")
    code = _jurisdiction(found.get(site))
    places = [_site_place(item, site, code, sorted(readers.get(item, [])), held.get(item))
              for item in sorted(readers.keys() | held.keys())]
    return _residency_json([p.item_id for p in places], places, False, question.allowed), places


def _edges_in(store: GraphStore, edge_type: str, ids: list[str], window: TimeWindow | None,
              from_type: str) -> list[EdgeRecord]:
    """The ``edge_type`` edges into ``ids`` from nodes of ``from_type``, in the window."""
    if not ids:
        return []
    found: Mapping[str, list[EdgeRecord]] = store.neighbours(
        edge_type, sorted(set(ids)), Direction.IN, window)
    return [e for edges in found.values() for e in edges if kind_of(e.from_id) == from_type]


def _site_place(item: str, site: str, jurisdiction: str | None, jobs: list[str],
                replica: EdgeRecord | None) -> residency_query.Place:
    return residency_query.Place(
        item_id=item, site_id=site, jurisdiction=jurisdiction, jobs=jobs,
        held=replica is not None,
        held_from=None if replica is None else replica.props.get(VALID_FROM),
        held_to=None if replica is None else replica.props.get(VALID_TO))
