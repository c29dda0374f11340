"""Placing jobs on GPUs: which GPUs of a site are free, and when."""

from __future__ import annotations

import random
from collections.abc import Iterable

from fleetgraph.simulator.config import HOUR_US, MINUTE_US, Window
from fleetgraph.simulator.fleet import Fleet, Rack, Server, Site

Placement = list[tuple[Server, list[str]]]  # (server, its GPUs the job runs on)


class Scheduler:
    """Places jobs on free GPUs of one site; a GPU is never booked twice at once.

    Jobs are placed in any order: ``free_from`` of a GPU is the latest end of its
    bookings, so a later placement starting before that end is refused.
    Staged (pinned) bookings are checked explicitly.
    """

    def __init__(self, fleet: Fleet, window: Window, installed: dict[str, int]) -> None:
        self.free_from: dict[str, list[int]] = {}
        for rack in fleet.racks():
            ready = installed.get(rack.id, window.start_us - HOUR_US) + 10 * MINUTE_US
            for server in rack.servers:
                self.free_from[server.id] = [ready] * len(server.gpu_ids)
        self.pinned: dict[str, list[tuple[int, int]]] = {}
        self.last_end: dict[str, int] = {}  # server id -> end of its last job

    def _is_free(self, server: Server, index: int, start: int, end: int) -> bool:
        if self.free_from[server.id][index] > start:
            return False
        pins = self.pinned.get(server.gpu_ids[index])
        return pins is None or all(end <= lo or hi <= start for lo, hi in pins)

    def _collect(self, servers: Iterable[Server], want: int, start: int, end: int
                 ) -> tuple[Placement, list[tuple[Server, int]]]:
        placement: Placement = []
        taken: list[tuple[Server, int]] = []
        for server in servers:
            free = [i for i in range(len(server.gpu_ids)) if self._is_free(server, i, start, end)]
            free = free[: want - len(taken)]
            if free:
                placement.append((server, [server.gpu_ids[i] for i in free]))
                taken.extend((server, i) for i in free)
            if len(taken) == want:
                break
        return placement, taken

    def place(self, site: Site, want: int, start: int, end: int, rng: random.Random
              ) -> Placement | None:
        """``want`` GPUs free over ``[start, end)`` on the site's racks, in a random order."""
        racks = list(site.racks)
        rng.shuffle(racks)
        servers = [s for r in racks for s in r.servers]
        placement, taken = self._collect(servers, want, start, end)
        if len(taken) < want:
            return None
        for server, i in taken:
            self.free_from[server.id][i] = end
            self.last_end[server.id] = max(self.last_end.get(server.id, 0), end)
        return placement

    def pin(self, rack: Rack, want: int, start: int, end: int) -> Placement | None:
        """``want`` GPUs of ``rack`` booked over ``[start, end)`` for a staged job."""
        placement, taken = self._collect(rack.servers, want, start, end)
        if len(taken) < want:
            return None
        for server, i in taken:
            self.pinned.setdefault(server.gpu_ids[i], []).append((start, end))
            self.last_end[server.id] = max(self.last_end.get(server.id, 0), end)
        return placement
