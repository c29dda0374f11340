"""Stage 2: refuse events that are invalid for the fleet's graph.

Checks ids (well formed, of a declared node type, of the type the field
expects), required fields per kind, string sizes, event times (not from the far
future or past) and physical ranges of readings. A refused event goes to the
dead-letter with the reason; nothing is silently dropped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from graph_model.ids import parse_id
from graph_model.types import GraphModelError, Registry
from ingest.errors import RejectedEvent
from ingest.message import Event
from schemas.topics import Topic

HARDWARE = frozenset(
    {"site", "rack", "cdu", "power_shelf", "server", "gpu", "switch", "instrument"}
)
HOLDERS = frozenset({"site", "rack", "server"})
DATA = frozenset({"artifact", "dataset", "model"})
STATUSES = frozenset({"ok", "degraded", "fault", "maintenance"})
RELATIONS = {"cooled_by": "cdu", "powered_by": "power_shelf"}

# Physically possible values; a reading outside is a broken sensor or a bad encoder.
READING_RANGES: dict[str, tuple[float, float]] = {
    "supply_temp_c": (-20.0, 120.0),
    "flow_lpm": (0.0, 20_000.0),
    "output_kw": (0.0, 2_000.0),
    "temperature_c": (-20.0, 150.0),
    "power_w": (0.0, 5_000.0),
    "utilization": (0.0, 1.0),
}
ENERGY_RANGES: dict[str, tuple[float, float]] = {
    "power_headroom_kw": (-5_000.0, 5_000.0),
    "thermal_headroom_kw": (-5_000.0, 5_000.0),
    "battery_soc": (0.0, 1.0),
    "solar_kw": (0.0, 5_000.0),
}


@dataclass(frozen=True)
class Limits:
    max_string: int = 1024
    max_list: int = 4096
    max_future_s: int = 3600
    max_age_days: int = 5 * 365


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class Validator:
    def __init__(
        self,
        registry: Registry,
        limits: Limits = Limits(),
        clock: Callable[[], int] = wall_clock_us,
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.clock = clock
        self._checks: dict[Topic, Callable[[dict[str, Any]], None]] = {
            Topic.TELEMETRY: self._telemetry,
            Topic.INVENTORY: self._inventory,
            Topic.JOBS: self._jobs,
            Topic.ARTIFACTS: self._artifacts,
        }

    def check(self, event: Event) -> None:
        """Raise RejectedEvent when the event must not reach the graph."""
        fields = event.fields
        self._sizes(fields)
        self._time(event.time)
        self._checks[event.topic](fields)

    # --- common ------------------------------------------------------------------
    def _sizes(self, fields: dict[str, Any]) -> None:
        """Strings, lists and maps within limits, one level of nesting deep (as the
        schemas are: lists of ids, an attribute map, placements)."""
        for name, value in fields.items():
            if type(value) is str:
                if len(value) > self.limits.max_string:
                    self._oversized(name, len(value))
            elif isinstance(value, list):
                if len(value) > self.limits.max_list:
                    raise RejectedEvent("oversized", f"{name} has {len(value)} items "
                                        f"(limit {self.limits.max_list})")
                for item in value:
                    if isinstance(item, dict):
                        self._sizes(item)
                    elif type(item) is str and len(item) > self.limits.max_string:
                        self._oversized(name, len(item))
            elif isinstance(value, dict):
                self._sizes(value)
                for key in value:
                    if len(key) > self.limits.max_string:
                        self._oversized(f"a key of {name}", len(key))

    def _oversized(self, name: str, length: int) -> None:
        raise RejectedEvent(
            "oversized", f"{name} is {length} characters (limit {self.limits.max_string})"
        )

    def _time(self, event_time: int) -> None:
        now = self.clock()
        if event_time > now + self.limits.max_future_s * 1_000_000:
            raise RejectedEvent(
                "from_future", f"event_time {event_time} is more than "
                f"{self.limits.max_future_s} s ahead of the clock ({now})"
            )
        if event_time < now - self.limits.max_age_days * 86_400_000_000:
            raise RejectedEvent(
                "too_old", f"event_time {event_time} is more than "
                f"{self.limits.max_age_days} days in the past"
            )

    def _id(self, fields: dict[str, Any], name: str, allowed: Iterable[str]) -> None:
        value = fields.get(name)
        if value is not None:
            self._id_value(value, name, allowed)

    def _id_value(self, value: str, field: str, allowed: Iterable[str]) -> None:
        try:
            node_type, _ = parse_id(value)
        except GraphModelError as exc:
            raise RejectedEvent("bad_id", f"{field}: {exc}") from exc
        if node_type not in self.registry.nodes:
            raise RejectedEvent("unknown_id_type", f"{field}: {value!r} names no node type")
        allowed = frozenset(allowed)
        if node_type not in allowed:
            raise RejectedEvent(
                "wrong_id_type", f"{field} must name a {' or '.join(sorted(allowed))}, "
                f"not {value!r}"
            )

    def _ids(self, fields: dict[str, Any], name: str, allowed: Iterable[str]) -> None:
        for value in fields.get(name) or ():
            self._id_value(value, name, allowed)

    @staticmethod
    def _require(fields: dict[str, Any], kind: str, *names: str) -> None:
        missing = [n for n in names if fields.get(n) in (None, [], "")]
        if missing:
            raise RejectedEvent(
                "missing_field", f"a {kind} event needs {', '.join(missing)}"
            )

    @staticmethod
    def _range(name: str, value: float, bounds: tuple[float, float]) -> None:
        low, high = bounds
        if not math.isfinite(value) or not low <= value <= high:
            raise RejectedEvent("out_of_range", f"{name}={value} is outside [{low}, {high}]")

    # --- per topic ----------------------------------------------------------------
    def _telemetry(self, f: dict[str, Any]) -> None:
        kind = f["kind"]
        self._id(f, "component_id", {"site"} if kind == "site_energy" else HARDWARE)
        self._id(f, "site_id", {"site"})
        if kind == "reading":
            self._require(f, kind, "metric", "value")
            bounds = READING_RANGES.get(f["metric"])
            if bounds is not None:
                self._range(f["metric"], f["value"], bounds)
        elif kind == "status":
            self._require(f, kind, "status")
            if f["status"] not in STATUSES:
                raise RejectedEvent("bad_value", f"status {f['status']!r} is not one of "
                                    f"{', '.join(sorted(STATUSES))}")
        elif kind == "site_energy":
            for name, bounds in ENERGY_RANGES.items():
                if f.get(name) is not None:
                    self._range(name, f[name], bounds)

    def _inventory(self, f: dict[str, Any]) -> None:
        kind = f["kind"]
        self._id(f, "component_id", HARDWARE)
        self._id(f, "parent_id", HOLDERS)
        if kind in ("installed", "removed") and not f["component_id"].startswith("site:"):
            self._require(f, kind, "parent_id")
        if kind in ("linked", "unlinked"):
            self._require(f, kind, "relation", "target_id")
            target_type = RELATIONS.get(f["relation"])
            if target_type is None:
                raise RejectedEvent("bad_value", f"relation {f['relation']!r} is not one of "
                                    f"{', '.join(sorted(RELATIONS))}")
            self._id(f, "component_id", {"rack"})
            self._id(f, "target_id", {target_type})

    def _jobs(self, f: dict[str, Any]) -> None:
        self._id(f, "job_id", {"job"})
        self._id(f, "application_id", {"application"})
        self._id(f, "user_id", {"user"})
        self._id(f, "model_id", {"model"})
        self._ids(f, "inputs", {"dataset", "artifact"})
        self._ids(f, "outputs", DATA)
        for placement in f["placement"]:
            self._id_value(placement["server_id"], "placement.server_id", {"server"})
            for gpu in placement["gpu_ids"]:
                self._id_value(gpu, "placement.gpu_ids", {"gpu"})
        if f["kind"] == "started":
            self._require(f, "started", "placement")
        gpus = f.get("gpus_requested")
        if gpus is not None and not 0 < gpus <= 1_000_000:
            raise RejectedEvent("out_of_range", f"gpus_requested={gpus}")

    def _artifacts(self, f: dict[str, Any]) -> None:
        kind = f["kind"]
        self._id(f, "artifact_id", DATA)
        self._id(f, "model_id", {"model"})
        self._ids(f, "derived_from", DATA)
        self._id(f, "site_id", {"site"})
        if kind in ("replicated", "accessed", "evicted"):
            self._require(f, kind, "site_id")
        if kind == "replicated":
            self._require(f, kind, "tier")
        tier = f.get("tier")
        if tier is not None and tier not in (0, 1, 2):
            raise RejectedEvent("out_of_range", f"tier={tier} (0 hot, 1 warm, 2 durable)")
        for name in ("hits", "size_bytes"):
            if (f.get(name) or 0) < 0:
                raise RejectedEvent("out_of_range", f"{name}={f[name]} is negative")
