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

from collections.abc import Callable, Mapping
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
# the node types an id field may name, built once (not per event)
SITE, RACK, SERVER, GPU, FAULT = (frozenset({name}) for name in
                                  ("site", "rack", "server", "gpu", "fault"))
JOB, APPLICATION, USER, MODEL = (frozenset({name}) for name in
                                 ("job", "application", "user", "model"))
INPUTS = frozenset({"dataset", "artifact"})
RELATION_TARGETS = {relation: frozenset({target}) for relation, target in RELATIONS.items()}
EMPTY: tuple[Any, ...] = (None, [], "")  # what a required field must not be
KNOWN_IDS = 200_000  # valid ids whose node type is remembered (cleared when full)

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
    """Checks events against a registry. What it checks is built once, here: the id
    fields' allowed types as frozensets, the properties each field sets, the limits in
    microseconds; ids found valid are remembered with their node type, so an id met
    again costs one lookup instead of a regular expression (its field's allowed types
    are still checked every time)."""

    def __init__(
        self,
        registry: Registry,
        limits: Limits = Limits(),
        clock: Callable[[], int] = wall_clock_us,
    ) -> None:
        self.registry = registry
        self.limits = limits
        self.clock = clock
        self._max_string = limits.max_string
        self._max_list = limits.max_list
        self.size_bound = min(limits.max_string, limits.max_list)
        self._max_future_us = limits.max_future_s * 1_000_000
        self._max_age_us = limits.max_age_days * 86_400_000_000
        self._props: dict[tuple[str, str], Prop] = {
            (owner.name, prop.name): prop
            for owner in (*registry.nodes.values(), *registry.edges.values())
            for prop in owner.props
        }
        self._owner_props: dict[str, dict[str, Prop]] = {}  # the same, by owner then name
        for (owner, name), prop in self._props.items():
            self._owner_props.setdefault(owner, {})[name] = prop
        self._declared: dict[str, frozenset[str]] = {  # node type -> its property names
            name: frozenset(prop.name for prop in node_type.props)
            for name, node_type in registry.nodes.items()
        }
        self._field_props: dict[int, tuple[tuple[str, str, str, Prop], ...]] = {
            id(fields): self._declared_fields(fields)
            for fields in (FAULT_FIELDS, JOB_FIELDS, CACHE_FIELDS)
        }
        self.known_ids: dict[str, str] = {}  # valid ids met -> their node type
        self._checks: dict[Topic, Callable[[dict[str, Any]], None]] = {
            Topic.TELEMETRY: self._telemetry,
            Topic.INVENTORY: self._inventory,
            Topic.JOBS: self._jobs,
            Topic.ARTIFACTS: self._artifacts,
        }

    def _declared_fields(self, props: Mapping[str, tuple[str, str]]
                         ) -> tuple[tuple[str, str, str, Prop], ...]:
        """(field, owner, property, Prop) of the fields whose property is declared."""
        return tuple((field, owner, name, self._props[(owner, name)])
                     for field, (owner, name) in props.items() if (owner, name) in self._props)

    def check(self, event: Event) -> list[RejectedEvent]:
        """Raise RejectedEvent when the event must not reach the graph. Attributes its
        node type does not declare are taken out of the event, and returned as a
        warning (an empty list when there are none)."""
        fields = event.fields
        bound = event.bound
        if bound is None or bound > self.size_bound:  # else no string or list can be over
            self._sizes(fields)
        event_id = fields["event_id"]
        if not event_id or not event_id.isprintable():
            self._event_id(event_id)  # raises
        self._time(event.time)
        topic = event.topic
        self._checks[topic](fields)
        if topic is Topic.TELEMETRY or topic is Topic.JOBS:  # they set no attribute map
            return []
        return self._unknown_attributes(topic, fields)

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
        max_string = self._max_string
        for name, value in fields.items():
            cls = type(value)
            if cls is str:
                if len(value) > max_string:
                    self._oversized(name, len(value))
            elif value is None or cls is int or cls is float:
                continue
            elif isinstance(value, list):
                if len(value) > self._max_list:
                    raise RejectedEvent("oversized", f"{name} has {len(value)} items "
                                        f"(limit {self._max_list})")
                for item in value:
                    if isinstance(item, dict):
                        self._sizes(item)
                    elif type(item) is str and len(item) > max_string:
                        self._oversized(name, len(item))
            elif isinstance(value, dict):
                self._sizes(value)
                for key in value:
                    if len(key) > max_string:
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
        if event_time > now + self._max_future_us:
            raise RejectedEvent(
                "from_future", f"event_time {event_time} is more than "
                f"{self.limits.max_future_s} s ahead of the clock ({now})"
            )
        if event_time < now - self._max_age_us:
            raise RejectedEvent(
                "too_old", f"event_time {event_time} is more than "
                f"{self.limits.max_age_days} days in the past"
            )

    def _id(self, fields: dict[str, Any], name: str, allowed: frozenset[str]) -> None:
        value = fields.get(name)
        if value is not None:
            self._id_value(value, name, allowed)

    def _id_value(self, value: str, field: str, allowed: frozenset[str]) -> None:
        node_type = self.known_ids.get(value) if type(value) is str else None
        if node_type is None:
            node_type = self._id_type(value, field)
        if node_type not in allowed:
            raise RejectedEvent(
                "wrong_id_type", f"{field} must name a {' or '.join(sorted(allowed))}, "
                f"not {value!r}"
            )

    def _id_type(self, value: str, field: str) -> str:
        """The node type of an id not met before (remembered when valid)."""
        try:
            node_type, _ = parse_id(value)
        except GraphModelError as exc:
            raise RejectedEvent("bad_id", f"{field}: {exc}") from exc
        if node_type not in self.registry.nodes:
            raise RejectedEvent("unknown_id_type", f"{field}: {value!r} names no node type")
        if len(self.known_ids) >= KNOWN_IDS:
            self.known_ids.clear()
        self.known_ids[value] = node_type
        return node_type

    def _ids(self, fields: dict[str, Any], name: str, allowed: frozenset[str]) -> None:
        for value in fields.get(name) or ():
            self._id_value(value, name, allowed)

    @staticmethod
    def _require(fields: dict[str, Any], kind: str, *names: str) -> None:
        for n in names:
            if fields.get(n) in EMPTY:
                break
        else:
            return
        missing = [n for n in names if fields.get(n) in EMPTY]
        raise RejectedEvent(
            "missing_field", f"a {kind} event needs {', '.join(missing)}"
        )

    def _value(self, owner: str, name: str, value: Any, field: str) -> None:
        """Refuse ``value`` when it is outside the domain of property ``name`` of
        ``owner`` (a node or edge type) as declared in the registry."""
        if value is None:  # within every domain
            return
        props = self._owner_props.get(owner)
        prop = None if props is None else props.get(name)
        if prop is not None:
            self._check(prop, value, field)

    @staticmethod
    def _check(prop: Prop, value: Any, field: str) -> None:
        try:
            prop.check(value)
        except DomainError as exc:
            raise RejectedEvent(exc.reason, f"{field}: {exc.detail}") from exc

    def _fields(self, f: dict[str, Any], props: Mapping[str, tuple[str, str]]) -> None:
        declared = self._field_props.get(id(props))
        if declared is None:
            declared = self._declared_fields(props)
        for field, _, _, prop in declared:
            value = f.get(field)
            if value is not None:
                self._check(prop, value, field)

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
        component = f.get("component_id")
        known = None  # the component's type, when met before and allowed here
        if component is not None:
            allowed = SITE if kind == "site_energy" else HARDWARE
            known = self.known_ids.get(component) if type(component) is str else None
            if known is None or known not in allowed:
                known = None
                self._id_value(component, "component_id", allowed)  # raises, or learns it
        site = f.get("site_id")
        if site is not None and (type(site) is not str or self.known_ids.get(site) != "site"):
            self._id_value(site, "site_id", SITE)  # raises, or learns it
        component = f["component_id"]
        component_type = known or self.known_ids.get(component) or node_type_of(component)
        if kind == "reading":
            if f.get("metric") in EMPTY or f.get("value") in EMPTY:
                self._require(f, kind, "metric", "value")
            props = self._owner_props.get(component_type)
            prop = None if props is None else props.get(f["metric"])
            if prop is not None and prop.kind is PropKind.FLOAT:  # others are noise (filter)
                try:
                    prop.check(f["value"])
                except DomainError as exc:
                    raise RejectedEvent(exc.reason, f"value: {exc.detail}") from exc
        elif kind == "status":
            self._require(f, kind, "status")
            self._value(component_type, "status", f["status"], "status")
            if f.get("fault_id"):  # an empty one names no fault (to-graph skips it)
                self._id_value(f"fault:{f['fault_id']}", "fault_id", FAULT)
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
            target_type = RELATION_TARGETS.get(f["relation"])
            if target_type is None:
                raise RejectedEvent("bad_value", f"relation {f['relation']!r} is not one of "
                                    f"{', '.join(sorted(RELATIONS))}")
            self._id(f, "component_id", RACK)
            self._id(f, "target_id", target_type)

    def _jobs(self, f: dict[str, Any]) -> None:
        self._id(f, "job_id", JOB)
        self._id(f, "application_id", APPLICATION)
        self._id(f, "user_id", USER)
        self._id(f, "model_id", MODEL)
        self._ids(f, "inputs", INPUTS)
        self._ids(f, "outputs", DATA)
        for placement in f["placement"]:
            self._id_value(placement["server_id"], "placement.server_id", SERVER)
            for gpu in placement["gpu_ids"]:
                self._id_value(gpu, "placement.gpu_ids", GPU)
        if f["kind"] == "started":
            self._require(f, "started", "placement")
        self._fields(f, JOB_FIELDS)  # gpus_requested 0 is a CPU-only job

    def _artifacts(self, f: dict[str, Any]) -> None:
        kind = f["kind"]
        self._id(f, "artifact_id", DATA)
        self._id(f, "model_id", MODEL)
        self._ids(f, "derived_from", DATA)
        self._id(f, "site_id", SITE)
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
