"""Clean event records of the four topics, and their ids."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator.fleet import Server


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


def reading_event(event_id: str, t: int, component_id: str, site_id: str, metric: str,
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
