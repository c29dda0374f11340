"""Store reads from resolvers: on the event loop when they are cheap, else in a thread.

The store is synchronous. A read handed to a worker thread keeps the event loop
free while it runs, but the hop costs more than a small embedded read itself
(scheduling the thread, waking the loop, and the two threads passing the GIL:
on a busy machine a milliseconds-long wait for a 30 µs read). :class:`StoreReads`
keeps, per kind of read (a root field's query, or a loader's batch of a given
size), a moving average of what it took, and runs a kind whose average is within
``budget_s`` inline, on the event loop; any other, and a kind not seen yet, in a
worker thread. A kind that turns slow (a larger store, a remote backend) goes
back to threads after its next read; one that was slow once comes back inline
after a few cheap reads.

Only a *bounded* read may run inline: one whose rows are capped by construction
(a loader's batch of nodes by id, a page of a type's nodes, a batch of one edge
type's adjacency lists). A read whose cost the request chooses (a traversal, a
search scanning up to 100,000 nodes, a headline query over a chosen window)
always runs in a thread, whatever its average: otherwise a client could make a
kind cheap with small requests and then send one that holds the event loop (and
every other request, and /healthz) for as long as that read takes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

INLINE_BUDGET_S = 0.001
# the weight of the latest read in the average (about the last ten reads count)
ALPHA = 0.2


class StoreReads:
    """Where a store read runs, decided per kind from what that kind has cost; one per
    app (shared by its requests: only the event loop's thread updates it)."""

    def __init__(self, budget_s: float = INLINE_BUDGET_S) -> None:
        self.budget_s = budget_s
        self.cost_s: dict[Hashable, float] = {}
        self.inline = 0
        self.threaded = 0

    def runs_inline(self, kind: Hashable) -> bool:
        cost = self.cost_s.get(kind)
        return cost is not None and cost <= self.budget_s

    async def run(self, kind: Hashable, read: Callable[..., T], *args: Any,
                  bounded: bool = False) -> T:
        """``read(*args)``, inline or in a worker thread (see the module doc): inline
        only when ``bounded`` (its rows are capped by construction) and cheap."""
        if bounded and self.runs_inline(kind):
            self.inline += 1
            started = time.perf_counter()
            try:
                return read(*args)
            finally:
                self._learn(kind, time.perf_counter() - started)
        self.threaded += 1
        took: list[float] = []
        try:
            return await asyncio.to_thread(_timed, took, read, *args)
        finally:
            if took:
                self._learn(kind, took[0])

    def _learn(self, kind: Hashable, seconds: float) -> None:
        cost = self.cost_s.get(kind)
        self.cost_s[kind] = seconds if cost is None else cost + ALPHA * (seconds - cost)


def _timed(took: list[float], read: Callable[..., T], *args: Any) -> T:
    started = time.perf_counter()
    try:
        return read(*args)
    finally:
        took.append(time.perf_counter() - started)


def size_class(n: int) -> int:
    """``n`` rounded up to a power of two: loader batches of similar size share a kind."""
    return 1 << max(n - 1, 0).bit_length()
