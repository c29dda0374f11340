"""Backpressure from the dedup buffer to the source agents.

A worker draining a backlog reads as fast as Kafka gives: every key it reaches
within a dedup window waits in the buffer, merged, until the flush timer writes
it, and with a ten times longer backlog the buffer held five times as many
entries at its peak (and the worker's peak RSS grew with it). So the source
agents take no message while the buffer has more than ``bound`` entries with
updates waiting on this worker's partitions: a :class:`DedupGate` is an
``asyncio.Event`` the agents wait on before each message (the one they waited
on for the inventory side input), set while the side input is ready *and* the
buffer is at most ``bound``. Nothing is dropped: a held message stays in its
stream's buffer (Faust stops fetching a partition whose buffer is full) and in
Kafka, uncommitted (the checkpoint commits only acknowledged offsets).

The buffer drains by itself: entries due on their leading edge are written
within a tick, and the flush timer's scan writes, beyond their window, the
oldest entries past ``dedup.max_entries``, which :func:`scan_bound` makes
half the bound, so that a scan makes room for half a bound of keys and the
agents do not stop and start at every message. During a rebalance the gate is
open: Faust waits for the agents' current events before it moves partitions,
and the entries of a revoked partition leave the buffer only after that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal

#: Entries with updates waiting in a worker's dedup buffer before the source agents
#: stop taking messages (a 10x backlog of the 4-site bench held ~8,000 at its peak,
#: the 1x one ~1,500; a steady stream of 40 sites holds a few hundred).
DEDUP_MAX_PENDING = 2_000
REFRESH_S = 0.02  # how often the gate counts the buffer


class DedupGate(asyncio.Event):
    """The event the source agents wait on before each message: set while ``ready``
    is (the inventory side input) and ``pending()`` is at most ``bound``, or while
    ``rebalancing()``.

    It is computed when asked (``is_set``, once per message), from the buffer as it
    was at most ``refresh_s`` ago: counting the buffer costs a pass over its keys,
    a clock read does not. No task keeps it, so it works wherever the agents run
    (a worker, ``agent.test_context()``). ``set`` and ``clear`` are not for it.
    """

    def __init__(self, ready: asyncio.Event, pending: Callable[[], int], bound: int, *,
                 rebalancing: Callable[[], bool] = lambda: False,
                 refresh_s: float = REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if bound < 1:
            raise ValueError("the dedup buffer's bound must be >= 1")
        super().__init__()
        self.ready = ready
        self.pending = pending
        self.bound = bound
        self.rebalancing = rebalancing
        self.refresh_s = refresh_s
        self.clock = clock
        self.holds = 0  # times the gate closed on a full buffer
        self.held_s = 0.0  # time it stayed closed on one
        self._open = True
        self._closed_at = 0.0
        self._next = 0.0  # when to count the buffer again

    def is_set(self) -> bool:
        if not self.ready.is_set():
            return False
        now = self.clock()
        if now >= self._next:
            self._next = now + self.refresh_s
            was_open = self._open
            self._open = self.rebalancing() or self.pending() <= self.bound
            if was_open and not self._open:
                self.holds += 1
                self._closed_at = now
            elif self._open and not was_open:
                self.held_s += now - self._closed_at
        return self._open

    async def wait(self) -> Literal[True]:
        await self.ready.wait()
        while not self.is_set():
            await asyncio.sleep(self.refresh_s)
        return True


def scan_bound(bound: int) -> int:
    """The dedup buffer's ``max_entries`` for a gate at ``bound``: the flush timer's scan
    writes the oldest entries beyond half of it before their window ends."""
    return max(1, bound // 2)
