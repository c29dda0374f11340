"""Reference ("oracle") graph builder: decoded events -> ``networkx.MultiDiGraph``.

Written from ``docs/events.md`` alone, independently of the product's ``ingest``,
``storage`` and ``serving`` packages, which it must never import; it imports nothing
from the project at all (topics are compared as the plain strings ``"telemetry"``,
``"inventory"``, ``"jobs"``, ``"artifacts"``; a ``fleetgraph.schemas.topics.Topic`` member, being a
``StrEnum``, compares equal to them). The end-to-end tests compare the product's GraphQL
answers with :mod:`fleetgraph.bench.reference.queries` run on the graph built here.

Graph shape
-----------
* One node per id; its attribute dict holds the node's properties.
* One edge per ``(type, from, to)``: ``g.edges[from, to, type]`` (the networkx edge
  key is the edge type); its attribute dict holds the edge's properties, including
  ``valid_from``/``valid_to`` for temporal edges. ``valid_to`` is ``None`` while the
  interval is open, a missing/``None`` ``valid_from`` means -infinity.
* Node and edge types are the id prefix before the first ``:`` (``type_of``).

Merge rule (docs/events.md)
---------------------------
Every event becomes property writes stamped with its ``event_time``. For every
property of every node and edge the write with the newest stamp wins; on equal
stamps a set value beats an empty one (``None``) and otherwise the larger value
wins (numbers compare as numbers, strings as strings; numbers < strings if a
property ever mixes them). The result does not depend on the order of events nor
on duplicates; events are nevertheless applied sorted by ``event_time``.
Duplicates are applied again (harmless: writes are idempotent), not dropped.

Interpretations where the docs leave room (read literally where possible)
--------------------------------------------------------------------------
* Optional fields that are null in an event are *not written* (they do not clear
  a property); the only "empty" writes are ``valid_to`` being cleared when an
  interval is opened (and ``valid_to := None`` on a fault node it opens).
* Opening an interval writes ``valid_from := t`` and ``valid_to := None``; closing
  writes ``valid_to := t`` only. One interval per edge key, so re-opening an edge
  (e.g. re-linking a rack to a CDU) replaces its old interval. Closing an edge that
  was never opened gives ``(-inf, t)``; opening and closing at the same time gives
  the empty interval ``[t, t)`` (set value beats empty).
* ``installed`` attributes are stored as given (strings; no coercion to the model's
  property types, as the oracle may not use ``graph_model``). Explicit fields win
  over attribute keys of the same name written by the same event.
* Containment edge type by the parent's id prefix: ``site:`` -> ``in_site``
  (``attached_to`` when the component is an ``instrument:``), ``rack:`` ->
  ``in_rack``, ``server:`` -> ``in_server``; other parents: no edge.
* Telemetry ``reading``: only the listed metric of the listed component type is
  written (``supply_temp_c``/``flow_lpm`` on ``cdu:``, ``output_kw`` on
  ``power_shelf:``, ``temperature_c``/``power_w``/``utilization`` on ``gpu:``);
  anything else is noise.
* Telemetry ``status``: ``status`` is always written. ``fault``/``degraded`` with a
  ``fault_id`` opens node ``fault:<fault_id>`` (``valid_from``, ``valid_to`` cleared,
  ``component_id``, ``code`` = ``fault_code``, ``severity``) and edge ``had_fault``;
  a second open event for the same fault id (e.g. degraded then fault) re-opens it
  at the later time, literally. ``ok`` with a ``fault_id`` closes both; other
  statuses (``maintenance``) touch no fault.
* ``site_energy``: the four values are written on ``component_id``.
* Jobs: ``submitted_at``/``started_at``/``finished_at`` and ``read``/``produced``
  ``at`` are the event time; ``ran_on.gpus`` is the number of GPU ids of the
  placement entry. Finishing events (``finished``/``failed``/``cancelled``) close the
  ``ran_on``/``allocated`` edges of *their own* placement; when their placement is
  empty (the schema lists no placement for ``cancelled``) they close the edges of
  every placement any ``started`` event of that job gave. ``application:``,
  ``user:`` and ``model:`` endpoints exist as (possibly property-less) nodes.
* Artifacts: ``registered`` writes ``kind`` (= ``artifact_kind``, the model's
  property name), ``content_hash``, ``size_bytes``, ``created_at`` (= event time)
  and the attributes; ``artifact_of`` is added only when ``model_id`` is set and
  ``artifact_kind`` is weights/adapter/checkpoint (``MODEL_ARTIFACT_KINDS``).
  ``replicated`` opens ``cached_at`` with ``tier`` and ``last_access``;
  ``accessed`` writes ``last_access`` and ``hits`` (not added up) without touching
  the interval; ``evicted`` closes it. The 30-day TTL of ``cached_at`` is ignored.
* Heartbeats, unknown topics and unknown kinds have no effect at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx

VALID_FROM = "valid_from"
VALID_TO = "valid_to"

Event = tuple[str, Mapping[str, Any]]
Cells = dict[str, tuple[int, Any]]  # property -> (stamp, value)
EdgeKey = tuple[str, str, str]  # (type, from, to)

TELEMETRY, INVENTORY, JOBS, ARTIFACTS = "telemetry", "inventory", "jobs", "artifacts"

READING_METRICS: dict[str, frozenset[str]] = {
    "cdu": frozenset({"supply_temp_c", "flow_lpm"}),
    "power_shelf": frozenset({"output_kw"}),
    "gpu": frozenset({"temperature_c", "power_w", "utilization"}),
}
FAULT_OPENING_STATUSES = frozenset({"fault", "degraded"})
FAULT_CLOSING_STATUS = "ok"
SITE_ENERGY_FIELDS = ("power_headroom_kw", "thermal_headroom_kw", "battery_soc", "solar_kw")
MODEL_ARTIFACT_KINDS = frozenset({"weights", "adapter", "checkpoint", "adapters", "checkpoints"})
JOB_END_KINDS = frozenset({"finished", "failed", "cancelled"})


def type_of(node_id: str) -> str:
    """The type named by an id's prefix: ``cdu:s1-c1`` -> ``cdu``."""
    return node_id.partition(":")[0]


def _rank(value: Any) -> tuple[Any, ...]:
    """Order of values written at the same stamp: empty < numbers < strings < rest."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, repr(value))


def _merge(cells: Cells, stamp: int, props: Mapping[str, Any]) -> None:
    for name, value in props.items():
        current = cells.get(name)
        if current is None or (stamp, _rank(value)) > (current[0], _rank(current[1])):
            cells[name] = (stamp, value)


def _set(**props: Any) -> dict[str, Any]:
    """Only the properties that carry a value (null fields are not written)."""
    return {name: value for name, value in props.items() if value is not None}


class _Store:
    """Property-level last-writer-wins store of nodes and edges."""

    def __init__(self) -> None:
        self.nodes: dict[str, Cells] = {}
        self.edges: dict[EdgeKey, Cells] = {}

    def node(self, node_id: str, stamp: int, props: Mapping[str, Any] | None = None) -> None:
        _merge(self.nodes.setdefault(node_id, {}), stamp, props or {})

    def edge(
        self, etype: str, src: str, dst: str, stamp: int, props: Mapping[str, Any] | None = None
    ) -> None:
        self.node(src, stamp)
        self.node(dst, stamp)
        _merge(self.edges.setdefault((etype, src, dst), {}), stamp, props or {})

    def open(
        self, etype: str, src: str, dst: str, stamp: int, props: Mapping[str, Any] | None = None
    ) -> None:
        self.edge(etype, src, dst, stamp, {**(props or {}), VALID_FROM: stamp, VALID_TO: None})

    def close(self, etype: str, src: str, dst: str, stamp: int) -> None:
        self.edge(etype, src, dst, stamp, {VALID_TO: stamp})

    def to_networkx(self) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph()
        for node_id in sorted(self.nodes):
            g.add_node(node_id)
            g.nodes[node_id].update({k: v for k, (_, v) in sorted(self.nodes[node_id].items())})
        for etype, src, dst in sorted(self.edges):
            g.add_edge(src, dst, key=etype)
            cells = self.edges[(etype, src, dst)]
            g.edges[src, dst, etype].update({k: v for k, (_, v) in sorted(cells.items())})
        return g


# --- per-topic handlers -----------------------------------------------------------


def _containment_type(component_id: str, parent_id: str) -> str | None:
    parent_type = type_of(parent_id)
    if parent_type == "site":
        return "attached_to" if type_of(component_id) == "instrument" else "in_site"
    return {"rack": "in_rack", "server": "in_server"}.get(parent_type)


def _inventory(store: _Store, ev: Mapping[str, Any]) -> None:
    t = int(ev["event_time"])
    kind = ev.get("kind")
    comp: str = ev["component_id"]
    attrs = dict(ev.get("attributes") or {})
    parent = ev.get("parent_id")
    if kind == "installed":
        store.node(comp, t, {**attrs, "status": "ok"})
        etype = _containment_type(comp, parent) if parent else None
        if parent and etype:
            store.open(etype, comp, parent, t)
    elif kind == "removed":
        store.node(comp, t, {"status": "removed"})
        etype = _containment_type(comp, parent) if parent else None
        if parent and etype:
            store.close(etype, comp, parent, t)
    elif kind in ("linked", "unlinked"):
        relation, target = ev.get("relation"), ev.get("target_id")
        if relation and target:
            if kind == "linked":
                store.open(relation, comp, target, t)
            else:
                store.close(relation, comp, target, t)
    elif kind == "updated":
        store.node(comp, t, attrs)


def _telemetry(store: _Store, ev: Mapping[str, Any]) -> None:
    t = int(ev["event_time"])
    kind = ev.get("kind")
    comp: str = ev["component_id"]
    if kind == "reading":
        metric: str | None = ev.get("metric")
        value = ev.get("value")
        if metric and metric in READING_METRICS.get(type_of(comp), ()) and value is not None:
            store.node(comp, t, {metric: value})
    elif kind == "status":
        status, fault_id = ev.get("status"), ev.get("fault_id")
        store.node(comp, t, _set(status=status))
        if not fault_id:
            return
        fault = "fault:" + fault_id
        if status in FAULT_OPENING_STATUSES:
            store.node(
                fault,
                t,
                {
                    **_set(code=ev.get("fault_code"), severity=ev.get("severity")),
                    "component_id": comp,
                    VALID_FROM: t,
                    VALID_TO: None,
                },
            )
            store.open("had_fault", comp, fault, t)
        elif status == FAULT_CLOSING_STATUS:
            store.node(fault, t, {VALID_TO: t})
            store.close("had_fault", comp, fault, t)
    elif kind == "site_energy":
        store.node(comp, t, _set(**{name: ev.get(name) for name in SITE_ENERGY_FIELDS}))
    # heartbeat and anything else: no effect


def _placement_pairs(placement: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(p["server_id"], list(p.get("gpu_ids") or [])) for p in placement]


def _jobs(
    store: _Store,
    ev: Mapping[str, Any],
    started_placements: Mapping[str, list[tuple[str, list[str]]]],
) -> None:
    t = int(ev["event_time"])
    kind = ev.get("kind")
    job: str = ev["job_id"]
    if kind == "submitted":
        store.node(
            job,
            t,
            {
                **_set(kind=ev.get("job_kind"), gpus_requested=ev.get("gpus_requested")),
                "status": "pending",
                "submitted_at": t,
            },
        )
        for etype, field in (
            ("owned_by", "application_id"),
            ("launched_by", "user_id"),
            ("used_model", "model_id"),
        ):
            target = ev.get(field)
            if target:
                store.edge(etype, job, target, t)
        for source in ev.get("inputs") or []:
            store.edge("read", job, source, t, {"at": t})
    elif kind == "started":
        store.node(job, t, {"status": "running", "started_at": t})
        for server, gpus in _placement_pairs(ev.get("placement") or []):
            store.open("ran_on", job, server, t, {"gpus": len(gpus)})
            for gpu in gpus:
                store.open("allocated", job, gpu, t)
    elif kind in JOB_END_KINDS:
        store.node(
            job,
            t,
            {**_set(exit_reason=ev.get("exit_reason")), "status": kind, "finished_at": t},
        )
        placement = _placement_pairs(ev.get("placement") or [])
        if not placement:
            placement = list(started_placements.get(job, []))
        for server, gpus in placement:
            store.close("ran_on", job, server, t)
            for gpu in gpus:
                store.close("allocated", job, gpu, t)
        for output in ev.get("outputs") or []:
            store.edge("produced", job, output, t, {"at": t})


def _artifacts(store: _Store, ev: Mapping[str, Any]) -> None:
    t = int(ev["event_time"])
    kind = ev.get("kind")
    artifact: str = ev["artifact_id"]
    site = ev.get("site_id")
    if kind == "registered":
        art_kind = ev.get("artifact_kind")
        store.node(
            artifact,
            t,
            {
                **dict(ev.get("attributes") or {}),
                **_set(
                    kind=art_kind,
                    content_hash=ev.get("content_hash"),
                    size_bytes=ev.get("size_bytes"),
                ),
                "created_at": t,
            },
        )
        model = ev.get("model_id")
        if model and art_kind in MODEL_ARTIFACT_KINDS:
            store.edge("artifact_of", artifact, model, t)
        for source in ev.get("derived_from") or []:
            store.edge("derived_from", artifact, source, t)
    elif not site:
        return
    elif kind == "replicated":
        store.open("cached_at", artifact, site, t, {**_set(tier=ev.get("tier")), "last_access": t})
    elif kind == "accessed":
        store.edge("cached_at", artifact, site, t, {**_set(hits=ev.get("hits")), "last_access": t})
    elif kind == "evicted":
        store.close("cached_at", artifact, site, t)


def _sort_key(item: tuple[str, Mapping[str, Any]]) -> tuple[int, str, str]:
    topic, ev = item
    return (int(ev["event_time"]), str(topic), str(ev.get("event_id", "")))


def build_graph(events: Iterable[Event]) -> nx.MultiDiGraph:
    """Build the fleet graph from ``(topic, decoded event dict)`` pairs, in any order."""
    ordered = sorted(((str(topic), ev) for topic, ev in events), key=_sort_key)
    started: dict[str, list[tuple[str, list[str]]]] = {}
    for topic, ev in ordered:
        if topic == JOBS and ev.get("kind") == "started":
            known = started.setdefault(ev["job_id"], [])
            for pair in _placement_pairs(ev.get("placement") or []):
                if pair not in known:
                    known.append(pair)
    store = _Store()
    for topic, ev in ordered:
        if topic == INVENTORY:
            _inventory(store, ev)
        elif topic == TELEMETRY:
            _telemetry(store, ev)
        elif topic == JOBS:
            _jobs(store, ev, started)
        elif topic == ARTIFACTS:
            _artifacts(store, ev)
    return store.to_networkx()


def graph_as_of(events: Iterable[Event], at_us: int) -> nx.MultiDiGraph:
    """The graph as it stood at ``at_us``: built from the events up to ``at_us`` only,
    keeping just the edges whose interval (if any) contains ``at_us``."""
    g = build_graph((t, ev) for t, ev in events if int(ev["event_time"]) <= at_us)

    def held(src: str, dst: str, key: str) -> bool:
        data = g.edges[src, dst, key]
        start, end = data.get(VALID_FROM), data.get(VALID_TO)
        return (start is None or start <= at_us) and (end is None or at_us < end)

    view: nx.MultiDiGraph = nx.subgraph_view(g, filter_edge=held)
    return view


def graph_before(events: Iterable[Event], end_us: int | None) -> nx.MultiDiGraph:
    """The graph built from the events before ``end_us`` (``None``: all of them)."""
    return build_graph((t, ev) for t, ev in events
                       if end_us is None or int(ev["event_time"]) < end_us)
