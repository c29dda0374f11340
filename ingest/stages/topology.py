"""The fleet's topology as a side input for enrichment.

Built from inventory events (installed, removed, linked, unlinked, updated).
Every link and every site attribute keeps its history, and a lookup at time t
sees only the inventory with an event time at or before t: the racks a CDU
cooled at 10:00, not the ones it cools now, and a site's region then. So the
answer does not depend on the order the inventory arrived in, nor on
inventory that is newer than the event being enriched: a log cut in two by
event time enriches the same as the whole log (ties: a link opened and closed
at the same time is open; of two values at the same time the larger wins).

The topology is also a set of facts (JSON strings, see ``facts``): the embedded
runner stores them beside the graph so that ``ingest --append`` starts from the
topology of the logs ingested before.
"""

from __future__ import annotations

import gc
import json
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from fleetgraph.graph_model.ids import node_type_of
from fleetgraph.graph_model.intervals import step_index

CONTAINMENT = "in"
LINK_FACT = "link"
SITE_FACT = "site"


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector off while a bulk of long-lived objects is made or
    copied (a topology of 180,000 links, its state, its JSON): it would scan the
    growing heap over and over and find no garbage (two thirds of ``state()``'s time
    and six sevenths of ``json.loads``' at 1000 sites)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@dataclass(slots=True)
class _History:
    """Values by time; ``at(t)`` is the value of the newest change at or before t.

    Each value holds over the half-open interval from its time to the next change's
    (:func:`fleetgraph.graph_model.intervals.step_index`): a link opened at t0 and
    closed at t1 is open over ``[t0, t1)``, as a validity interval is.
    """

    times: list[int] = field(default_factory=list)  # sorted
    values: list[Any] = field(default_factory=list)  # the value set at each time

    def set(self, t: int, value: Any) -> None:
        """Record a change; of two at the same time the larger value stays."""
        i = bisect_left(self.times, t)
        if i < len(self.times) and self.times[i] == t:
            self.values[i] = max(self.values[i], value)
        else:
            self.times.insert(i, t)
            self.values.insert(i, value)

    def merge(self, times: list[Any], values: list[Any]) -> None:
        """Record many changes; taken over as they are when this history is empty and
        they are in order (a ``state()``), else one by one as ``set`` does."""
        times = [int(t) for t in times]
        if len(times) != len(values):
            raise ValueError(f"{len(times)} times for {len(values)} values")
        if not self.times and all(a < b for a, b in pairwise(times)):
            self.times, self.values = times, list(values)
            return
        for t, value in zip(times, values, strict=True):
            self.set(t, value)

    def at(self, t: int) -> Any:
        times = self.times
        if len(times) == 1:  # most links and attributes never change: one step [times[0], ∞)
            return self.values[0] if times[0] <= t else None
        i = step_index(times, t)
        return self.values[i] if i >= 0 else None

    def latest(self) -> Any:
        return self.values[-1] if self.values else None

    def changes(self) -> Iterator[tuple[int, Any]]:
        return zip(self.times, self.values, strict=True)


def _open_at(links: dict[str, _History] | None, t: int) -> list[str]:
    """The ends of ``links`` open at time t, sorted (one link, the common case, without
    a sort)."""
    if not links:
        return []
    if len(links) == 1:
        for end, history in links.items():
            return [end] if history.at(t) else []
    return sorted(end for end, history in links.items() if history.at(t))


@dataclass
class Topology:
    # (relation, from) -> {to: open/closed history}; relation is "in", "cooled_by"
    # or "powered_by"
    _out: dict[tuple[str, str], dict[str, _History]] = field(default_factory=dict)
    # (relation, to) -> {from: the same history}
    _in: dict[tuple[str, str], dict[str, _History]] = field(default_factory=dict)
    # site id -> attribute -> history of its values
    _site_attrs: dict[str, dict[str, _History]] = field(default_factory=dict)

    def apply(self, event: dict[str, Any]) -> None:
        """Take in one inventory event."""
        kind, t, component = event["kind"], event["event_time"], event["component_id"]
        if kind in ("installed", "removed") and event.get("parent_id"):
            self._link(CONTAINMENT, component, event["parent_id"], t, kind == "installed")
        elif kind in ("linked", "unlinked"):
            self._link(event["relation"], component, event["target_id"], t, kind == "linked")
        if component.startswith("site:") and kind in ("installed", "updated"):
            for name, value in event.get("attributes", {}).items():
                self._site_attr(component, name, t, value)

    def _link(self, relation: str, source: str, target: str, t: int, opening: bool) -> None:
        history = self._out.setdefault((relation, source), {}).get(target)
        if history is None:
            history = _History()
            self._out[(relation, source)][target] = history
            self._in.setdefault((relation, target), {})[source] = history
        history.set(t, opening)

    def _site_attr(self, site: str, name: str, t: int, value: str) -> None:
        self._site_attrs.setdefault(site, {}).setdefault(name, _History()).set(t, value)

    def size(self) -> dict[str, int]:
        """How much the topology holds: links and site attributes, and their changes."""
        links = [h for targets in self._out.values() for h in targets.values()]
        attrs = [h for a in self._site_attrs.values() for h in a.values()]
        return {"links": len(links), "link_changes": sum(len(h.times) for h in links),
                "site_attributes": len(attrs),
                "attribute_changes": sum(len(h.times) for h in attrs)}

    # --- facts: the topology as data, to store and load -----------------------
    def facts(self) -> Iterator[str]:
        """Every change the topology holds, one JSON string each; ``load`` takes them back."""
        for (relation, source), targets in self._out.items():
            for target, history in targets.items():
                for t, opening in history.changes():
                    yield json.dumps([LINK_FACT, relation, source, target, t, opening])
        for site, attrs in self._site_attrs.items():
            for name, history in attrs.items():
                for t, value in history.changes():
                    yield json.dumps([SITE_FACT, site, name, t, value])

    def load(self, facts: Iterable[str]) -> Topology:
        """Take in facts of ``facts()`` (of this or another topology); returns self."""
        with collector_paused():
            self._load(facts)
        return self

    def _load(self, facts: Iterable[str]) -> None:
        for fact in facts:
            kind, *rest = json.loads(fact)
            if kind == LINK_FACT:
                relation, source, target, t, opening = rest
                self._link(relation, source, target, int(t), bool(opening))
            elif kind == SITE_FACT:
                site, name, t, value = rest
                self._site_attr(site, name, int(t), str(value))

    # --- state: the whole topology as one JSON-ready value (a worker's snapshot) ---
    def state(self) -> dict[str, list[list[Any]]]:
        """Every link and site attribute with its history, grouped: what ``restore``
        takes back in one pass (no per-fact parsing, unlike ``facts``)."""
        links: list[list[Any]] = []
        sites: list[list[Any]] = []
        for part in self.state_parts():
            links += part["links"]
            sites += part["sites"]
        return {"links": links, "sites": sites}

    def state_parts(self, size: int = 10_000) -> Iterator[dict[str, list[list[Any]]]]:
        """``state()`` in parts of about ``size`` links or attributes, for a caller
        that lets other work run in between (the follower's event loop). The links and
        sites are those of the first part's time; each history is copied whole, as of
        its part's time: a change made in between may be in the parts or not, which
        a snapshot taken at offsets read before the first part allows (the changes
        after them are read again)."""
        links = list(self._out.items())
        sites = list(self._site_attrs.items())
        for start in range(0, max(len(links), len(sites), 1), size):
            with collector_paused():  # not across the yield: the caller's work collects
                part = {
                    "links": [[relation, source, target, h.times.copy(), h.values.copy()]
                              for (relation, source), targets in links[start:start + size]
                              for target, h in list(targets.items())],
                    "sites": [[site, name, h.times.copy(), h.values.copy()]
                              for site, attrs in sites[start:start + size]
                              for name, h in list(attrs.items())],
                }
            yield part

    def restore(self, state: dict[str, list[list[Any]]]) -> Topology:
        """Take in a ``state()`` (of this or another topology), as ``load`` takes its
        facts: the result is the same as applying both topologies' events. Returns self."""
        with collector_paused():
            self._restore(state)
        return self

    def absorb(self, other: Topology) -> Topology:
        """Take in another topology, not to be used afterwards (its histories become
        this one's when this one is empty). Returns self."""
        if not self._out and not self._site_attrs:
            self._out, self._in, self._site_attrs = other._out, other._in, other._site_attrs
            return self
        return self.restore(other.state())

    def _restore(self, state: dict[str, list[list[Any]]]) -> None:
        out_index, in_index = self._out, self._in
        for relation, source, target, times, values in state["links"]:
            out = out_index.get((relation, source))
            if out is None:
                out = out_index[(relation, source)] = {}
            history = out.get(target)
            if history is None:  # the common case: a link this topology has not seen
                if len(times) == 1 == len(values):  # most links never change
                    history = _History([int(times[0])], [bool(values[0])])
                else:
                    history = _History()
                    history.merge(times, [bool(v) for v in values])
                out[target] = history
                targets = in_index.get((relation, target))
                if targets is None:
                    targets = in_index[(relation, target)] = {}
                targets[source] = history
            else:
                history.merge(times, [bool(v) for v in values])
        for site, name, times, values in state["sites"]:
            attrs = self._site_attrs.setdefault(site, {})
            attrs.setdefault(name, _History()).merge(times, [str(v) for v in values])

    @staticmethod
    def fact_time(fact: str) -> int:
        """The event time of one fact of ``facts()``."""
        kind, *rest = json.loads(fact)
        return int(rest[3] if kind == LINK_FACT else rest[2])

    # --- lookups ------------------------------------------------------------
    def targets(self, relation: str, source: str, t: int) -> list[str]:
        return _open_at(self._out.get((relation, source)), t)

    def sources(self, relation: str, target: str, t: int) -> list[str]:
        return _open_at(self._in.get((relation, target)), t)

    def site_of(self, component: str, t: int) -> str | None:
        """The site holding a component at time t, up the containment chain."""
        current = component
        out = self._out
        for _ in range(4):  # gpu -> server -> rack -> site
            if current.startswith("site:"):
                return current
            node_type_of(current)  # an id must name a type: raises as before when not
            parents = _open_at(out.get((CONTAINMENT, current)), t)
            if not parents:
                return None
            current = parents[0]
        return None

    def site_attribute(self, site: str, name: str, t: int | None = None) -> str | None:
        """A site's attribute at time t (the newest value when t is None)."""
        history = self._site_attrs.get(site, {}).get(name)
        if history is None:
            return None
        value = history.latest() if t is None else history.at(t)
        return None if value is None else str(value)

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
