"""Reference integrity report, from the event list alone (see README.md).

Independent of the product: it does not read a store nor import the project. It
replays ``(topic, decoded event)`` pairs by the table of docs/events.md and says,
from the *kinds* of the events (which the store does not keep), what is wrong:

* ``MISSING_NODE``: an edge end no event wrote a node record for (edges from
  inventory, jobs and artifacts; application, user and model ends of job events
  and fault ends get their node written by the same event);
* ``NEVER_INSTALLED``: a node record written, but no ``installed`` (components),
  ``submitted`` (jobs) or ``registered`` (artifacts, datasets, models) event for it;
  applications, users and faults are never installed by design;
* ``ENDED_BEFORE_STARTED`` / ``STARTED_BEFORE_SUBMITTED``: the newest event of each
  job lifecycle kind out of order (the newest write of each time wins);
* ``CLOSED_NEVER_OPENED``: an interval (edge or fault) with closing events only;
* ``REOPENED``: a containment edge open now (newest write an open) that an older
  event had written before that open.

Each finding is keyed ``(kind, subject id, record)`` (record: the node id, or
``"<type> <from> -> <to>"``) and maps to the ids of every event that wrote the
record, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

COMPONENTS = frozenset({"site", "rack", "cdu", "power_shelf", "server", "gpu", "switch",
                        "instrument"})
READINGS = {"cdu": {"supply_temp_c", "flow_lpm"}, "power_shelf": {"output_kw"},
            "gpu": {"temperature_c", "power_w", "utilization"}}
ENERGY = ("power_headroom_kw", "thermal_headroom_kw", "battery_soc", "solar_kw")
CONTAINMENT = {"site": "in_site", "rack": "in_rack", "server": "in_server"}
ENDS = ("finished", "failed", "cancelled")
MODEL_PARTS = ("weights", "adapter", "checkpoint")

Key = tuple[str, str, str]
Write = tuple[int, str, str]  # (event time, event id, "open" | "close" | "set")


def type_of(node_id: str) -> str:
    return node_id.partition(":")[0]


@dataclass
class _Replay:
    nodes: dict[str, list[Write]] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], list[Write]] = field(default_factory=dict)
    installed: set[str] = field(default_factory=set)
    job_times: dict[str, dict[str, int]] = field(default_factory=dict)

    def node(self, node_id: str, ev: Mapping[str, Any], what: str = "set") -> None:
        self.nodes.setdefault(node_id, []).append((ev["event_time"], ev["event_id"], what))

    def edge(self, key: tuple[str, str, str], ev: Mapping[str, Any], what: str = "set") -> None:
        self.edges.setdefault(key, []).append((ev["event_time"], ev["event_id"], what))


def _inventory(r: _Replay, ev: Mapping[str, Any]) -> None:
    kind, comp, parent = ev["kind"], ev["component_id"], ev.get("parent_id")
    if kind in ("installed", "updated", "removed"):
        r.node(comp, ev)
    if kind == "installed":
        r.installed.add(comp)
    if kind in ("installed", "removed") and parent:
        etype = "attached_to" if type_of(comp) == "instrument" else CONTAINMENT[type_of(parent)]
        r.edge((etype, comp, parent), ev, "open" if kind == "installed" else "close")
    if kind in ("linked", "unlinked"):
        r.edge((ev["relation"], comp, ev["target_id"]), ev,
               "open" if kind == "linked" else "close")


def _telemetry(r: _Replay, ev: Mapping[str, Any]) -> None:
    kind, comp = ev["kind"], ev["component_id"]
    reading = kind == "reading" and ev.get("metric") in READINGS.get(type_of(comp), ())
    if reading or (kind == "site_energy" and any(ev.get(n) is not None for n in ENERGY)):
        r.node(comp, ev)
    elif kind == "status":
        r.node(comp, ev)
        if ev.get("fault_id"):
            fault = "fault:" + ev["fault_id"]
            what = ("open" if ev["status"] in ("fault", "degraded")
                    else "close" if ev["status"] == "ok" else None)
            if what:
                r.node(fault, ev, what)
                r.edge(("had_fault", comp, fault), ev, what)


def _jobs(r: _Replay, ev: Mapping[str, Any]) -> None:
    kind, job, t = ev["kind"], ev["job_id"], ev["event_time"]
    r.node(job, ev)
    times = r.job_times.setdefault(job, {})
    stage = "ended" if kind in ENDS else kind
    times[stage] = max(times.get(stage, t), t)
    if kind == "submitted":
        r.installed.add(job)
    for name, etype in (("application_id", "owned_by"), ("user_id", "launched_by"),
                        ("model_id", "used_model")):
        if ev.get(name):
            r.node(ev[name], ev)
            r.edge((etype, job, ev[name]), ev)
    if kind == "submitted":
        for source in ev.get("inputs") or []:
            r.edge(("read", job, source), ev)
    if kind in ENDS:
        for output in ev.get("outputs") or []:
            r.edge(("produced", job, output), ev)
    if kind == "started" or kind in ENDS:
        what = "open" if kind == "started" else "close"
        for place in ev.get("placement") or []:
            r.edge(("ran_on", job, place["server_id"]), ev, what)
            for gpu in place.get("gpu_ids") or []:
                r.edge(("allocated", job, gpu), ev, what)


def _artifacts(r: _Replay, ev: Mapping[str, Any]) -> None:
    kind, item = ev["kind"], ev["artifact_id"]
    if kind == "registered":
        r.node(item, ev)
        r.installed.add(item)
        if ev.get("model_id") and type_of(item) == "artifact" and (
            ev.get("artifact_kind") in MODEL_PARTS
        ):
            r.edge(("artifact_of", item, ev["model_id"]), ev)
        for parent in ev.get("derived_from") or []:
            r.edge(("derived_from", item, parent), ev)
    else:
        what = {"replicated": "open", "evicted": "close"}.get(kind, "set")
        r.edge(("cached_at", item, ev["site_id"]), ev, what)


HANDLERS = {"inventory": _inventory, "telemetry": _telemetry, "jobs": _jobs,
            "artifacts": _artifacts}


def integrity(events: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[Key, list[str]]:
    """Every finding of the events, with the ids of the events that wrote its record."""
    r = _Replay()
    for topic, ev in events:
        if ev.get("kind") != "heartbeat":
            HANDLERS[str(topic)](r, ev)
    found: dict[Key, list[Write]] = {}
    for (etype, a, b), writes in r.edges.items():
        name = f"{etype} {a} -> {b}"
        for end in (a, b):
            other = b if end == a else a
            if end not in r.nodes and other in r.nodes:
                found[("MISSING_NODE", end, name)] = writes
        if not any(w[2] == "open" for w in writes) and any(w[2] == "close" for w in writes):
            found[("CLOSED_NEVER_OPENED", a, name)] = writes
        newest_open = max((w for w in writes if w[2] == "open"), default=None)
        if etype in (*CONTAINMENT.values(), "attached_to") and newest_open is not None and (
            not any(w[2] == "close" and w[0] > newest_open[0] for w in writes)
            and min(writes)[0] < newest_open[0]
        ):
            found[("REOPENED", a, name)] = writes
    for node_id, writes in r.nodes.items():
        t = type_of(node_id)
        if t in COMPONENTS | {"job", "artifact", "dataset", "model"} and (
            node_id not in r.installed
        ):
            found[("NEVER_INSTALLED", node_id, node_id)] = writes
        if t == "fault" and not any(w[2] == "open" for w in writes):
            found[("CLOSED_NEVER_OPENED", node_id, node_id)] = writes
    for job, times in r.job_times.items():
        start = times.get("started", times.get("submitted"))
        if "ended" in times and start is not None and times["ended"] < start:
            found[("ENDED_BEFORE_STARTED", job, job)] = r.nodes[job]
        if "started" in times and "submitted" in times and times["started"] < times["submitted"]:
            found[("STARTED_BEFORE_SUBMITTED", job, job)] = r.nodes[job]
    return {key: [w[1] for w in sorted(writes)] for key, writes in found.items()}
