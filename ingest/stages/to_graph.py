"""Stage 5: one event to the node and edge upserts it implies.

The mapping is the table in ``docs/events.md``. Every upsert carries the
event's time and provenance; intervals open with ``valid_from`` (clearing
``valid_to``) and close with ``valid_to``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetgraph.core.version import WRITER_VERSION
from fleetgraph.graph_model.ids import node_type_of
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO, GraphModelError, Registry
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Event
from fleetgraph.schemas.topics import Topic

CONTAINER_EDGE = {"site": "in_site", "rack": "in_rack", "server": "in_server"}
ENERGY = ("power_headroom_kw", "thermal_headroom_kw", "battery_soc", "solar_kw")
FAULTY = ("fault", "degraded")
JOB_ENDS = ("finished", "failed", "cancelled")
MODEL_PARTS = ("weights", "adapter", "checkpoint")
KNOWN_IDS = 200_000  # ids whose node type is remembered (cleared when full)


def opened(t: int, **props: Any) -> dict[str, Any]:
    return {VALID_FROM: t, VALID_TO: None, **props}


def closed(t: int) -> dict[str, Any]:
    return {VALID_TO: t}


class GraphMapper:
    """Turns events into upserts for one registry of types."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._by_topic: dict[Topic, Callable[[Event, _Out], None]] = {
            Topic.TELEMETRY: self._telemetry,
            Topic.INVENTORY: self._inventory,
            Topic.JOBS: self._jobs,
            Topic.ARTIFACTS: self._artifacts,
        }
        self._node_types: dict[str, str] = {}  # ids met -> their node type (the prefix)

    def to_graph(self, event: Event, t: int | None = None) -> list[Upsert]:
        """The upserts ``event`` implies (``t``: its time when the caller has it)."""
        if t is None:
            t = event.time
        node_types = self._node_types
        if len(node_types) >= KNOWN_IDS:
            node_types.clear()
        fields = event.fields
        if event.topic is Topic.TELEMETRY and fields["kind"] == "reading":
            # most events: one node upsert of one property (what ``_telemetry`` makes)
            component = fields["component_id"]
            node_type = node_types.get(component)
            if node_type is None:
                node_type = node_types[component] = node_type_of(component)
            return [NodeUpsert(node_type, component, {fields["metric"]: fields["value"]}, t,
                               Provenance(event.event_id, event.source, t, WRITER_VERSION))]
        return self.general(event, t)

    def general(self, event: Event, t: int) -> list[Upsert]:
        """:meth:`to_graph` of every event through its topic's mapping (no fast path)."""
        out = _Out(t, Provenance(event.event_id, event.source, t, WRITER_VERSION),
                   self._node_types)
        self._by_topic[event.topic](event, out)
        return out.upserts

    def _attributes(self, node_id: str, attributes: dict[str, str]) -> dict[str, Any]:
        node_type = self.registry.node(node_type_of(node_id))
        try:
            return self.registry.coerce_props(node_type.props, f"a {node_type.name}", attributes)
        except GraphModelError as exc:
            raise RejectedEvent("bad_attribute", str(exc)) from exc

    def _edge_type_for(self, name: str, from_id: str, to_id: str) -> str:
        edge_type = self.registry.edge(name)
        if (
            node_type_of(from_id) not in edge_type.from_types
            or node_type_of(to_id) not in edge_type.to_types
        ):
            raise RejectedEvent(
                "bad_edge", f"{name} cannot go from {from_id!r} to {to_id!r}"
            )
        return name

    # --- topics -------------------------------------------------------------------
    def _telemetry(self, event: Event, out: _Out) -> None:
        f, t = event.fields, out.t
        component = f["component_id"]
        kind = f["kind"]
        if kind == "reading":
            out.node(component, {f["metric"]: f["value"]})
        elif kind == "site_energy":
            out.node(component, {k: f[k] for k in ENERGY if f.get(k) is not None})
        elif kind == "status":
            out.node(component, {"status": f["status"]})
            fault_id = f.get("fault_id")
            if not fault_id:
                return
            fault = f"fault:{fault_id}"
            if f["status"] in FAULTY:
                props = opened(t, component_id=component)
                for name, value in (("code", f.get("fault_code")),
                                    ("severity", f.get("severity")),
                                    ("site_id", event.enriched.get("site_id"))):
                    if value is not None:
                        props[name] = value
                if event.enriched.get("racks"):
                    props["affected_racks"] = ",".join(event.enriched["racks"])
                out.node(fault, props)
                out.edge("had_fault", component, fault, opened(t))
            elif f["status"] == "ok":
                out.node(fault, closed(t))
                out.edge("had_fault", component, fault, closed(t))

    def _inventory(self, event: Event, out: _Out) -> None:
        f, t = event.fields, out.t
        component, kind = f["component_id"], f["kind"]
        if kind in ("installed", "updated"):
            props = self._attributes(component, f["attributes"])
            if kind == "installed":
                props.setdefault("status", "ok")
            out.node(component, props)
        if kind in ("installed", "removed") and f.get("parent_id"):
            parent = f["parent_id"]
            name = "attached_to" if component.startswith("instrument:") else CONTAINER_EDGE[
                node_type_of(parent)]
            edge = self._edge_type_for(name, component, parent)
            out.edge(edge, component, parent, opened(t) if kind == "installed" else closed(t))
            if kind == "removed":
                out.node(component, {"status": "removed"})
        elif kind in ("linked", "unlinked"):
            edge = self._edge_type_for(f["relation"], component, f["target_id"])
            out.edge(edge, component, f["target_id"], opened(t) if kind == "linked" else closed(t))

    def _jobs(self, event: Event, out: _Out) -> None:
        f, t, kind = event.fields, out.t, event.kind
        job = f["job_id"]
        props: dict[str, Any] = {}
        if f.get("job_kind"):
            props["kind"] = f["job_kind"]
        if f.get("gpus_requested") is not None:
            props["gpus_requested"] = f["gpus_requested"]
        for name in ("site_id", "region", "jurisdiction"):
            if name in event.enriched:
                props[name] = event.enriched[name]
        if kind == "submitted":
            props.update(status="pending", submitted_at=t)
        elif kind == "started":
            props.update(status="running", started_at=t)
        else:
            props.update(status=kind, finished_at=t)
            if f.get("exit_reason"):
                props["exit_reason"] = f["exit_reason"]
        out.node(job, props)
        for field, edge in (("application_id", "owned_by"), ("user_id", "launched_by"),
                            ("model_id", "used_model")):
            if f.get(field):
                out.node(f[field], {})
                out.edge(edge, job, f[field], {})
        if kind == "submitted":
            for source in f["inputs"]:
                out.edge("read", job, source, {"at": t})
        for placement in f["placement"]:
            server, gpus = placement["server_id"], placement["gpu_ids"]
            if kind == "started":
                out.edge("ran_on", job, server, opened(t, gpus=len(gpus)))
                for gpu in gpus:
                    out.edge("allocated", job, gpu, opened(t))
            elif kind in JOB_ENDS:
                out.edge("ran_on", job, server, closed(t))
                for gpu in gpus:
                    out.edge("allocated", job, gpu, closed(t))
        if kind in JOB_ENDS:
            for output in f["outputs"]:
                out.edge("produced", job, output, {"at": t})

    def _artifacts(self, event: Event, out: _Out) -> None:
        f, t, kind = event.fields, out.t, event.kind
        item = f["artifact_id"]
        if kind == "registered":
            props = self._attributes(item, f["attributes"])
            item_type = node_type_of(item)
            if item_type == "artifact" and f.get("artifact_kind"):
                props["kind"] = f["artifact_kind"]
            if item_type != "model":
                props["created_at"] = t
                for name in ("content_hash", "size_bytes"):
                    if f.get(name) is not None:
                        props[name] = f[name]
            out.node(item, props)
            if f.get("model_id") and item_type == "artifact" and (
                f.get("artifact_kind") in MODEL_PARTS
            ):
                out.edge("artifact_of", item, f["model_id"], {})
            for parent in f["derived_from"]:
                out.edge("derived_from", item, parent, {})
            return
        site = f["site_id"]
        edge = self._edge_type_for("cached_at", item, site)
        if kind == "replicated":
            out.edge(edge, item, site, opened(t, tier=f["tier"], last_access=t))
        elif kind == "accessed":
            props = {"last_access": t}
            for name in ("hits", "tier"):
                if f.get(name) is not None:
                    props[name] = f[name]
            out.edge(edge, item, site, props)
        elif kind == "evicted":
            out.edge(edge, item, site, closed(t))


class _Out:
    """Collects the upserts of one event."""

    __slots__ = ("node_types", "provenance", "t", "upserts")

    def __init__(self, t: int, provenance: Provenance, node_types: dict[str, str]) -> None:
        self.t = t
        self.provenance = provenance
        self.upserts: list[Upsert] = []
        self.node_types = node_types

    def node(self, node_id: str, props: dict[str, Any]) -> None:
        node_type = self.node_types.get(node_id)
        if node_type is None:
            node_type = self.node_types[node_id] = node_type_of(node_id)
        self.upserts.append(NodeUpsert(node_type, node_id, props, self.t, self.provenance))

    def edge(self, edge_type: str, from_id: str, to_id: str, props: dict[str, Any]) -> None:
        self.upserts.append(EdgeUpsert(edge_type, from_id, to_id, props, self.t,
                                       self.provenance))
