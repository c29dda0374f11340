"""The integrity rules: what one stored record says about the events behind it.

Each rule reads records the scan in :mod:`fleetgraph.serving.queries.integrity` has already
loaded and returns findings; none reads the store. Which events write which
properties is the table in docs/events.md (``fleetgraph.ingest.stages.to_graph``):

* A physical component is *installed* by an inventory ``installed`` event, which
  writes its attributes and ``status`` and opens a containment edge to its parent
  (every component but a site has one). A component other than a site with no
  containment edge ever opened was never installed: telemetry, ``updated`` or
  ``removed`` events named it, or an edge did (an install without a parent is
  reported too: it leaves the component nowhere in the fleet). A site has no
  parent: it was never installed when it holds only what telemetry writes
  (``status``, site energy); an ``installed`` site event without attributes looks
  the same and is reported too.
* A job is created by ``submitted`` (``submitted_at``); artifacts and datasets by
  ``registered`` (``created_at``); a model by ``registered`` with its attributes
  (a job or an artifact that names a model writes an empty model record).
* Applications and users are made by the job events that name them, by design: no
  event registers them, so they are never reported. Faults are opened by a status
  event; a fault closed but never opened is a sequence finding.
* Intervals: opening writes ``valid_from`` and clears ``valid_to``, closing writes
  ``valid_to`` only, newest event time first. A closing event alone leaves
  ``valid_to`` without ``valid_from``. A close older than the open is overwritten by
  the open's cleared ``valid_to``: the interval stays open, and only the record's
  first write (``origin.created_at``) older than ``valid_from`` remains of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from fleetgraph.graph_model.fleet import COMPONENT_TYPES, CONTAINMENT_EDGES
from fleetgraph.graph_model.records import EdgeRecord, NodeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.ingest.stages.filter import MODELLED_READINGS
from fleetgraph.ingest.stages.to_graph import ENERGY
from fleetgraph.serving.times import to_datetime

JOB_EDGES = ("ran_on", "allocated")  # opened by started, closed by the job's end
TELEMETRY_PROPS = frozenset(
    {"status", *ENERGY, *(m for metrics in MODELLED_READINGS.values() for m in metrics)}
)
Record = NodeRecord | EdgeRecord


class IntegrityKind(Enum):
    MISSING_NODE = "MISSING_NODE"
    NEVER_INSTALLED = "NEVER_INSTALLED"
    ENDED_BEFORE_STARTED = "ENDED_BEFORE_STARTED"
    STARTED_BEFORE_SUBMITTED = "STARTED_BEFORE_SUBMITTED"
    CLOSED_NEVER_OPENED = "CLOSED_NEVER_OPENED"
    INTERVAL_REVERSED = "INTERVAL_REVERSED"
    REOPENED = "REOPENED"

    @property
    def is_reference(self) -> bool:
        """Referenced but never installed (else: an impossible sequence)."""
        return self in (IntegrityKind.MISSING_NODE, IntegrityKind.NEVER_INSTALLED)


JOB_KINDS = frozenset({IntegrityKind.ENDED_BEFORE_STARTED, IntegrityKind.STARTED_BEFORE_SUBMITTED})


@dataclass(frozen=True, slots=True)
class CausingEvent:
    """An event that wrote a record of a finding: its first or its latest write."""

    event_id: str
    event_time: int  # µs
    source: str | None  # topic/partition/offset or file position; kept for the latest only
    wrote: str  # "first write of <record>" or "latest write of <record>"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing ops should look at: its kind, the node it is about, why, and the
    records (with their provenance) that show it."""

    kind: IntegrityKind
    subject_id: str
    detail: str
    records: tuple[Record, ...]

    @property
    def sort_key(self) -> tuple[str, str, tuple[str, ...]]:
        return self.subject_id, self.kind.value, tuple(describe(r) for r in self.records)

    def events(self) -> list[CausingEvent]:
        """The first and latest writing event of each record, oldest first, each once
        (the latest write's source is the only one a record keeps)."""
        found: dict[str, CausingEvent] = {}
        for record in self.records:
            origin = record.origin
            if origin is None:
                continue
            name = describe(record)
            latest = origin.latest
            found.setdefault(latest.event_id, CausingEvent(
                latest.event_id, latest.event_time, latest.source, f"latest write of {name}"))
            if origin.created_by not in found:
                found[origin.created_by] = CausingEvent(
                    origin.created_by, origin.created_at, None, f"first write of {name}")
        return sorted(found.values(), key=lambda e: (e.event_time, e.event_id))


def describe(record: Record) -> str:
    if isinstance(record, NodeRecord):
        return record.id
    return f"{record.type} {record.from_id} -> {record.to_id}"


def when(us: int) -> str:
    """An event time as ISO 8601 UTC, for the details."""
    moment = to_datetime(us)
    return moment.isoformat() if moment is not None else str(us)


def _us(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- references ------------------------------------------------------------------------


def missing_ends(edges: Iterable[EdgeRecord], existing: set[str], far_end_is_to: bool
                 ) -> list[Finding]:
    """Edges whose far end has no node record: the event that named it made the only
    trace of that node (a ``linked cooled_by`` to a CDU never installed)."""
    findings = []
    for edge in edges:
        far = edge.to_id if far_end_is_to else edge.from_id
        if far not in existing:
            findings.append(Finding(
                IntegrityKind.MISSING_NODE, far,
                f"{far} has no record; only the {edge.type} edge "
                f"{'from ' + edge.from_id if far_end_is_to else 'to ' + edge.to_id} names it",
                (edge,)))
    return findings


def never_installed(node: NodeRecord, out_edges: Sequence[EdgeRecord]) -> Finding | None:
    """A node record no installing, submitting or registering event wrote."""
    props, t = node.props, node.type
    if t == "site":
        if not set(props) <= TELEMETRY_PROPS:
            return None
        detail = (f"{node.id} was never installed: it holds only "
                  f"{', '.join(sorted(props)) or 'no properties'} (written by telemetry)")
    elif t in COMPONENT_TYPES:
        if any(e.type in CONTAINMENT_EDGES and e.props.get(VALID_FROM) is not None
               for e in out_edges):
            return None
        detail = (f"{node.id} was never installed: no containment edge was ever opened "
                  f"from it; it holds {', '.join(sorted(props)) or 'no properties'}")
    elif t == "job" and "submitted_at" not in props:
        detail = f"{node.id} was never submitted: written only by its later events"
    elif t in ("artifact", "dataset") and "created_at" not in props:
        detail = f"{node.id} was never registered: only named by other events"
    elif t == "model" and not props:
        detail = f"{node.id} was never registered: only named by jobs or artifacts"
    else:
        return None
    return Finding(IntegrityKind.NEVER_INSTALLED, node.id, detail, (node,))


# --- sequences -------------------------------------------------------------------------


def job_sequence(job: NodeRecord, edges: Sequence[EdgeRecord]) -> list[Finding]:
    """A job's lifecycle times out of order; its ran_on/allocated edges are the proof
    (an end older than the start leaves them open for good)."""
    submitted, started = _us(job.props.get("submitted_at")), _us(job.props.get("started_at"))
    finished = _us(job.props.get("finished_at"))
    evidence: tuple[Record, ...] = (job, *(e for e in edges if e.type in JOB_EDGES))
    findings = []
    start = started if started is not None else submitted
    if finished is not None and start is not None and finished < start:
        what = "started" if started is not None else "submitted"
        findings.append(Finding(
            IntegrityKind.ENDED_BEFORE_STARTED, job.id,
            f"{job.id} ended at {when(finished)}, before it {what} at {when(start)}: its "
            f"status stays {job.props.get('status')!r} and its ran_on/allocated edges open",
            evidence))
    if started is not None and submitted is not None and started < submitted:
        findings.append(Finding(
            IntegrityKind.STARTED_BEFORE_SUBMITTED, job.id,
            f"{job.id} started at {when(started)}, before it was submitted at "
            f"{when(submitted)}",
            evidence))
    return findings


def interval(record: Record, subject_id: str) -> list[Finding]:
    """A temporal record's interval: closed but never opened, ending before it starts,
    or (containment edges, opened once per install) first written before it opened."""
    start, end = _us(record.props.get(VALID_FROM)), _us(record.props.get(VALID_TO))
    name = describe(record)
    if end is not None and start is None:
        return [Finding(IntegrityKind.CLOSED_NEVER_OPENED, subject_id,
                        f"{name} was closed at {when(end)} but never opened", (record,))]
    if end is not None and start is not None and end < start:
        return [Finding(IntegrityKind.INTERVAL_REVERSED, subject_id,
                        f"{name} ends at {when(end)}, before it starts at {when(start)}",
                        (record,))]
    first = record.origin.created_at if record.origin is not None else None
    if (isinstance(record, EdgeRecord) and record.type in CONTAINMENT_EDGES and end is None
            and start is not None and first is not None and first < start):
        return [Finding(
            IntegrityKind.REOPENED, subject_id,
            f"{name} was first written at {when(first)}, before the install at "
            f"{when(start)} it holds: removed before installed, or installed again into "
            "the same parent (one interval per edge keeps only the latest)", (record,))]
    return []


def node_findings(node: NodeRecord, out_edges: Mapping[str, Sequence[EdgeRecord]],
                  temporal: bool) -> list[Finding]:
    """Every finding about one node record, given its outgoing edges by type."""
    edges = [e for same_type in out_edges.values() for e in same_type]
    findings = [f for f in (never_installed(node, edges),) if f is not None]
    if node.type == "job":
        findings += job_sequence(node, edges)
    if temporal:
        findings += interval(node, node.id)
    return findings
