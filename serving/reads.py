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

A *bounded* read (one whose rows are capped by construction: a loader's batch of
nodes by id, a page of a type's nodes, a batch of one edge type's adjacency
lists) of a cheap kind simply runs inline. A read whose cost the request chooses
(a traversal, a search scanning up to 100,000 nodes, a headline query over a
chosen window) of a kind averaging at most ``TRIAL_FACTOR`` times the budget runs
inline *on trial*: once it has used
``cut_s`` of the event loop thread's CPU time, its next store call raises
:class:`InlineCut` (checked by serving.deadline.DeadlineStore before every store
call), the partial work is dropped, and the read runs again from the start in a
worker thread. Reads have no side effects, so the answer is the one the thread
gives; a client that makes a kind look cheap with small requests and then sends
a costly one holds the event loop (and every other request, and /healthz) for at
most ``cut_s`` plus one store call (a search reads pages of 1,000 nodes), never
for as long as its read takes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

INLINE_BUDGET_S = 0.001
# a read on trial (its cost chosen by the request, cut when it runs long) runs inline
# while its kind averages at most this many times the budget: the cut, not the average,
# bounds what it may hold the loop for, and a thread hop costs more than such a read
# (measured in the worker thread, where it also waits for the GIL, a read looks slower)
TRIAL_FACTOR = 5
# CPU seconds of the event loop's thread a read of request-chosen cost may take inline
# before it is cut and run again in a thread (CPU, not wall: a busy machine that
# preempts the loop does not cut a cheap read)
INLINE_CUT_S = 0.02
# the weight of the latest read in the average (about the last ten reads count)
ALPHA = 0.2

# (time.perf_counter(), time.thread_time()) past both of which the read running inline
# on this thread is cut; None outside such a read (worker threads run with None: the
# read is reset before the hop). A thread's CPU time grows no faster than the wall
# clock, so the CPU clock (a system call, ~2 µs here) is read only once the wall clock
# (~0.2 µs) is past its cut: a cheap read never reads it between its store calls.
_cut_at: ContextVar[tuple[float, float] | None] = ContextVar("fleetgraph_inline_cut_at",
                                                             default=None)


class InlineCut(BaseException):
    """An inline read used up its time on the event loop; it runs again in a thread.

    A BaseException, so that a query's ``except Exception`` cannot swallow it."""


def check_inline_cut() -> None:
    """Raise :class:`InlineCut` when the read running inline here is past its cut."""
    cut_at = _cut_at.get()
    if cut_at is not None and time.perf_counter() > cut_at[0] \
            and time.thread_time() > cut_at[1]:
        raise InlineCut


class StoreReads:
    """Where a store read runs, decided per kind from what that kind has cost; one per
    app (shared by its requests: only the event loop's thread updates it)."""

    def __init__(self, budget_s: float = INLINE_BUDGET_S, cut_s: float = INLINE_CUT_S
                 ) -> None:
        self.budget_s = budget_s
        self.cut_s = cut_s
        self.cost_s: dict[Hashable, float] = {}
        self.inline = 0
        self.threaded = 0
        self.cut = 0  # inline trials cut short and run again in a thread

    def runs_inline(self, kind: Hashable, bounded: bool = True) -> bool:
        """Whether a read of ``kind`` runs inline now: a bounded one while its kind
        averages at most ``budget_s``, one on trial at most ``TRIAL_FACTOR`` times that."""
        cost = self.cost_s.get(kind)
        return cost is not None and cost <= (
            self.budget_s if bounded else self.budget_s * TRIAL_FACTOR)

    def run_now(self, kind: Hashable, read: Callable[..., T], *args: Any) -> T:
        """``read(*args)`` inline: a bounded read of a kind :meth:`runs_inline` found cheap
        (the loaders read a batch so, in the event loop callback that closes it)."""
        self.inline += 1
        started = time.perf_counter()
        try:
            return read(*args)
        finally:
            self._learn(kind, time.perf_counter() - started)

    async def run(self, kind: Hashable, read: Callable[..., T], *args: Any,
                  bounded: bool = False) -> T:
        """``read(*args)``, inline or in a worker thread (see the module doc): inline
        when its kind is cheap; when not ``bounded`` (the request chooses its cost),
        only until it has used ``cut_s`` of CPU time, then again in a thread."""
        if self.runs_inline(kind, bounded):
            started = time.perf_counter()
            token = None if bounded else _cut_at.set(
                (started + self.cut_s, time.thread_time() + self.cut_s))
            try:
                self.inline += 1
                return read(*args)
            except InlineCut:
                self.inline -= 1
                self.cut += 1
            finally:
                if token is not None:
                    _cut_at.reset(token)
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
