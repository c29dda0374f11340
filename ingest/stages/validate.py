"""Stage 2: refuse events that are invalid for the fleet's graph.

Checks ids (well formed, of a declared node type, of the type the field
expects), event ids, required fields per kind, string sizes, event times (not
from the far future or past), and every value an event sets against the
domain its property declares in the registry (``fleetgraph.graph_model.fleet``: ranges,
choices, lengths), whatever the source: readings, statuses, energy, fault
codes, attribute maps, job and artifact fields. A refused event goes to the
dead-letter with the reason; nothing is silently dropped.

An attribute map may name attributes the component's node type does not declare
(a source that knows more than the graph does): the event is kept with the
attributes its type declares, and :meth:`Validator.check` returns a warning
(``unknown_attribute``) naming the others, which the pipeline records beside the
dead letters (the whole event, so that it can be replayed once a property is
declared in ``graph_model/fleet.py``). A declared attribute with a value outside
its domain still refuses the event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.fleet import COMPONENT_TYPES
from fleetgraph.graph_model.ids import node_type_of, parse_id
from fleetgraph.graph_model.types import DomainError, GraphModelError, Prop, PropKind, Registry
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Event
from fleetgraph.ingest.stages.to_graph import ENERGY
from fleetgraph.schemas.topics import Topic

UNKNOWN_ATTRIBUTE = "unknown_attribute"  # a warning: the event is kept without them
SHOWN_KEYS = 10  # unknown attribute names a warning spells out

HARDWARE = COMPONENT_TYPES
HOLDERS = frozenset({"site", "rack", "server"})
DATA = frozenset({"artifact", "dataset", "model"})
RELATIONS = {"cooled_by": "cdu", "powered_by": "power_shelf"}

# Event fields that set a property: field -> (node or edge type, property).
FAULT_FIELDS = {"fault_code": ("fault", "code"), "severity": ("fault", "severity")}
JOB_FIELDS = {"job_kind": ("job", "kind"), "gpus_requested": ("job", "gpus_requested"),
              "exit_reason": ("job", "exit_reason")}
CACHE_FIELDS = {"tier": ("cached_at", "tier"), "hits": ("cached_at", "hits")}
REGISTERED_FIELDS = ("content_hash", "size_bytes")  # of the registered dataset or artifact


@dataclass(frozen=True)
class Limits:
    max_string: int = 1024
    max_list: int = 4096
    max_future_s: int = 3600
    max_age_days: int = 5 * 365



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
        self._props: dict[tuple[str, str], Prop] = {
            (owner.name, prop.name): prop
            for owner in (*registry.nodes.values(), *registry.edges.values())
            for prop in owner.props
        }
        self._declared: dict[str, frozenset[str]] = {  # node type -> its property names
            name: frozenset(prop.name for prop in node_type.props)
            for name, node_type in registry.nodes.items()
        }
        self._checks: dict[Topic, Callable[[dict[str, Any]], None]] = {
            Topic.TELEMETRY: self._telemetry,
            Topic.INVENTORY: self._inventory,
            Topic.JOBS: self._jobs,
            Topic.ARTIFACTS: self._artifacts,
        }

    def check(self, event: Event) -> list[RejectedEvent]:
        """Raise RejectedEvent when the event must not reach the graph. Attributes its
        node type does not declare are taken out of the event, and returned as a
        warning (an empty list when there are none)."""
        fields = event.fields
        self._sizes(fields)
        self._event_id(fields["event_id"])
        self._time(event.time)
        self._checks[event.topic](fields)
        return self._unknown_attributes(event.topic, fields)

    def _unknown_attributes(self, topic: Topic, fields: dict[str, Any]) -> list[RejectedEvent]:
        owner = self._attribute_owner(topic, fields)
        attributes: dict[str, str] = fields.get("attributes") or {}
        if owner is None or owner not in self._declared or not attributes:
            return []
        declared = self._declared[owner]
        unknown = [name for name in attributes if name not in declared]
        if not unknown:
            return []
        fields["attributes"] = {k: v for k, v in attributes.items() if k in declared}
        shown = ", ".join(repr(name) for name in unknown[:SHOWN_KEYS])
        more = f" and {len(unknown) - SHOWN_KEYS} more" if len(unknown) > SHOWN_KEYS else ""
        return [RejectedEvent(
            UNKNOWN_ATTRIBUTE,
            f"stored without attributes {shown}{more}: a {owner} has no such property "
            f"(declare it in graph_model/fleet.py, then replay this letter to store them)",
        )]

    @staticmethod
    def _attribute_owner(topic: Topic, fields: dict[str, Any]) -> str | None:
        """The node type whose properties an event's attribute map sets, if it sets any."""
        kind = fields["kind"]
        if topic is Topic.INVENTORY and kind in ("installed", "updated"):
            return node_type_of(fields["component_id"])
        if topic is Topic.ARTIFACTS and kind == "registered":
            return node_type_of(fields["artifact_id"])
        return None

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

    @staticmethod
    def _event_id(event_id: str) -> None:
        if not event_id:
            raise RejectedEvent("missing_field", "an event needs a non-empty event_id")
        if not event_id.isprintable():
            raise RejectedEvent("bad_value", f"event_id {event_id!r} holds a control character")

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

    def _value(self, owner: str, name: str, value: Any, field: str) -> None:
        """Refuse ``value`` when it is outside the domain of property ``name`` of
        ``owner`` (a node or edge type) as declared in the registry."""
        prop = self._props.get((owner, name))
        if prop is not None:
            self._check(prop, value, field)

    @staticmethod
    def _check(prop: Prop, value: Any, field: str) -> None:
        try:
            prop.check(value)
        except DomainError as exc:
            raise RejectedEvent(exc.reason, f"{field}: {exc.detail}") from exc

    def _fields(self, f: dict[str, Any], props: Mapping[str, tuple[str, str]]) -> None:
        for field, (owner, name) in props.items():
            self._value(owner, name, f.get(field), field)

    def _attributes(self, owner: str, attributes: dict[str, str]) -> None:
        """An attribute map: the values of properties ``owner`` declares of their kind
        and domain (the others are taken out by :meth:`check`)."""
        node_type = self.registry.node(owner)
        declared = self._declared[owner]
        known = {k: v for k, v in attributes.items() if k in declared}
        try:
            self.registry.coerce_props(node_type.props, f"a {owner}", known)
        except DomainError as exc:
            raise RejectedEvent(exc.reason, f"attributes: {exc.detail}") from exc
        except GraphModelError as exc:
            raise RejectedEvent("bad_attribute", f"attributes: {exc}") from exc

    # --- per topic ----------------------------------------------------------------
    def _telemetry(self, f: dict[str, Any]) -> None:
        kind = f["kind"]
        self._id(f, "component_id", {"site"} if kind == "site_energy" else HARDWARE)
        self._id(f, "site_id", {"site"})
        component_type = node_type_of(f["component_id"])
        if kind == "reading":
            self._require(f, kind, "metric", "value")
            prop = self._props.get((component_type, f["metric"]))
            if prop is not None and prop.kind is PropKind.FLOAT:  # others are noise (filter)
                self._check(prop, f["value"], "value")
        elif kind == "status":
            self._require(f, kind, "status")
            self._value(component_type, "status", f["status"], "status")
            if f.get("fault_id"):  # an empty one names no fault (to-graph skips it)
                self._id_value(f"fault:{f['fault_id']}", "fault_id", {"fault"})
            self._fields(f, FAULT_FIELDS)
        elif kind == "site_energy":
            for name in ENERGY:
                self._value("site", name, f.get(name), name)

    def _inventory(self, f: dict[str, Any]) -> None:
        kind = f["kind"]
        self._id(f, "component_id", HARDWARE)
        self._id(f, "parent_id", HOLDERS)
        if kind in ("installed", "removed") and not f["component_id"].startswith("site:"):
            self._require(f, kind, "parent_id")
        if kind in ("installed", "updated"):
            self._attributes(node_type_of(f["component_id"]), f["attributes"])
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
        self._fields(f, JOB_FIELDS)  # gpus_requested 0 is a CPU-only job

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
        self._fields(f, CACHE_FIELDS)
        item_type = node_type_of(f["artifact_id"])
        if kind == "registered":
            self._attributes(item_type, f["attributes"])
            if item_type == "artifact":
                self._value(item_type, "kind", f.get("artifact_kind"), "artifact_kind")
            for name in REGISTERED_FIELDS:
                self._value(item_type, name, f.get(name), name)
