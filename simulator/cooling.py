"""Which CDUs cool which rack, over time: the ``cooled_by`` links and the racks moved.

A moved rack is linked to its new CDU first and unlinked from the old one a few
minutes later (make before break).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator.config import INF, MINUTE_US, Window
from fleetgraph.simulator.draws import between
from fleetgraph.simulator.events import EventIds, SimEvent, inventory_event
from fleetgraph.simulator.fleet import Fleet, Rack


@dataclass(frozen=True, slots=True)
class RackMove:
    rack: Rack
    from_cdu: str
    to_cdu: str
    linked_us: int  # the new CDU is linked first ...
    unlinked_us: int  # ... then the old one unlinked (make before break)


class Cooling:
    """``cooled_by`` links with their intervals; each (rack, cdu) pair has one interval."""

    def __init__(self, fleet: Fleet, installed: dict[str, int]) -> None:
        self.links: dict[str, list[list[Any]]] = {}  # rack id -> [[cdu, from, to], ...]
        self.racks_of_cdu: dict[str, list[str]] = {}
        for rack in fleet.racks():
            since = installed.get(rack.id, -INF)
            for cdu in rack.cdu_ids:
                self._open(rack.id, cdu, since)

    def _open(self, rack_id: str, cdu_id: str, t: int) -> None:
        self.links.setdefault(rack_id, []).append([cdu_id, t, INF])
        self.racks_of_cdu.setdefault(cdu_id, []).append(rack_id)

    def move(self, move: RackMove) -> None:
        self._open(move.rack.id, move.to_cdu, move.linked_us)
        for link in self.links[move.rack.id]:
            if link[0] == move.from_cdu:
                link[2] = move.unlinked_us

    def at(self, rack_id: str, t: int) -> list[str]:
        return [cdu for cdu, lo, hi in self.links[rack_id] if lo <= t < hi]

    def racks_cooled_by(self, cdu_id: str, t: int) -> list[str]:
        return [r for r in self.racks_of_cdu.get(cdu_id, ()) if cdu_id in self.at(r, t)]


def draw_moves(fleet: Fleet, window: Window, count: int, rng: random.Random) -> list[RackMove]:
    """Up to ``count`` racks installed before the window moved to another CDU of their site,
    early in the window; preferably away from a CDU that cools other racks too."""
    candidates = _move_candidates(fleet)
    moves = []
    for rack, sources, targets in rng.sample(candidates, min(count, len(candidates))):
        linked = window.at(rng.uniform(0.1, 0.3))
        moves.append(RackMove(rack, rng.choice(sources), rng.choice(targets), linked,
                              linked + between(rng, 2 * MINUTE_US, 10 * MINUTE_US)))
    return moves


def _move_candidates(fleet: Fleet) -> list[tuple[Rack, list[str], list[str]]]:
    """(rack, CDUs it may leave, CDUs it may move to) of every rack that can move."""
    candidates = []
    for site in fleet.sites:
        cooled = [c for r in site.racks if not r.added_in_window for c in r.cdu_ids]
        for rack in site.racks:
            targets = [c.id for c in site.cdus if c.id not in rack.cdu_ids]
            if targets and not rack.added_in_window:
                shared = [c for c in rack.cdu_ids if cooled.count(c) > 1]
                candidates.append((rack, shared or list(rack.cdu_ids), targets))
    return candidates


def move_events(moves: list[RackMove], ids: EventIds) -> list[SimEvent]:
    events = []
    for move in moves:
        events.append(inventory_event(
            ids(Topic.INVENTORY), move.linked_us, "linked", move.rack.id,
            relation="cooled_by", target_id=move.to_cdu))
        events.append(inventory_event(
            ids(Topic.INVENTORY), move.unlinked_us, "unlinked", move.rack.id,
            relation="cooled_by", target_id=move.from_cdu))
    return events
