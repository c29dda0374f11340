"""The fleet's topology as a side input for enrichment.

Built from inventory events (installed, removed, linked, unlinked, updated),
with the same merge rule as the stores (newest event time wins, per field), so
it is the same whatever order the inventory arrived in. Links keep their
validity interval, and lookups take a time: the racks a CDU cooled at 10:00,
not the ones it cools now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph_model.ids import node_type_of

CONTAINMENT = "in"


@dataclass(slots=True)
class _Interval:
    valid_from: int | None = None
    from_ts: int = -1
    valid_to: int | None = None
    to_ts: int = -1

    def open(self, t: int) -> None:
        if t > self.from_ts:
            self.valid_from, self.from_ts = t, t
        if t > self.to_ts:
            self.valid_to, self.to_ts = None, t

    def close(self, t: int) -> None:
        if t > self.to_ts:
            self.valid_to, self.to_ts = t, t

    def covers(self, t: int) -> bool:
        return (self.valid_from is None or self.valid_from <= t) and (
            self.valid_to is None or t < self.valid_to
        )


@dataclass
class Topology:
    # (relation, from) -> {to: interval}; relation is "in", "cooled_by" or "powered_by"
    _out: dict[tuple[str, str], dict[str, _Interval]] = field(default_factory=dict)
    # (relation, to) -> {from: interval}
    _in: dict[tuple[str, str], dict[str, _Interval]] = field(default_factory=dict)
    # site id -> attribute -> (time, value)
    _site_attrs: dict[str, dict[str, tuple[int, str]]] = field(default_factory=dict)

    def apply(self, event: dict[str, Any]) -> None:
        """Take in one inventory event."""
        kind, t, component = event["kind"], event["event_time"], event["component_id"]
        if kind in ("installed", "removed") and event.get("parent_id"):
            self._link(CONTAINMENT, component, event["parent_id"], t, kind == "installed")
        elif kind in ("linked", "unlinked"):
            self._link(event["relation"], component, event["target_id"], t, kind == "linked")
        if component.startswith("site:") and kind in ("installed", "updated"):
            attrs = self._site_attrs.setdefault(component, {})
            for name, value in event.get("attributes", {}).items():
                if name not in attrs or attrs[name] < (t, value):
                    attrs[name] = (t, value)

    def _link(self, relation: str, source: str, target: str, t: int, opening: bool) -> None:
        interval = self._out.setdefault((relation, source), {}).get(target)
        if interval is None:
            interval = _Interval()
            self._out[(relation, source)][target] = interval
            self._in.setdefault((relation, target), {})[source] = interval
        if opening:
            interval.open(t)
        else:
            interval.close(t)

    # --- lookups ------------------------------------------------------------
    def targets(self, relation: str, source: str, t: int) -> list[str]:
        links = self._out.get((relation, source), {})
        return sorted(target for target, interval in links.items() if interval.covers(t))

    def sources(self, relation: str, target: str, t: int) -> list[str]:
        links = self._in.get((relation, target), {})
        return sorted(source for source, interval in links.items() if interval.covers(t))

    def site_of(self, component: str, t: int) -> str | None:
        """The site holding a component at time t, up the containment chain."""
        current = component
        for _ in range(4):  # gpu -> server -> rack -> site
            if node_type_of(current) == "site":
                return current
            parents = self.targets(CONTAINMENT, current, t)
            if not parents:
                return None
            current = parents[0]
        return None

    def site_attribute(self, site: str, name: str) -> str | None:
        entry = self._site_attrs.get(site, {}).get(name)
        return entry[1] if entry else None

    def served_racks(self, component: str, t: int) -> list[str]:
        """Racks cooled or fed by a CDU or power shelf at time t (a rack serves itself)."""
        component_type = node_type_of(component)
        if component_type == "cdu":
            return self.sources("cooled_by", component, t)
        if component_type == "power_shelf":
            return self.sources("powered_by", component, t)
        if component_type == "rack":
            return [component]
        return []
