"""The garbage collector and a query's latency.

A full collection walks every object the collector tracks: in a server that is the
modules, the GraphQL schema and the store's state (several hundred thousand objects,
tens of milliseconds a walk here), and, once the fleet is large, the decoded rows the
read models keep (tens of thousands of places, replicas and rankings: a walk of a
hundred milliseconds or more), paid by whichever query runs into it: its p99.

:func:`collector_for_serving` keeps the walks short. What is alive when the server
starts lives as long as it does, so it is moved out of the collector's reach
(``gc.freeze``). After that, whatever survives a full collection has outlived every
generation: it is frozen as well, and the next full collection walks only what became
old since. The price: a reference cycle frozen while alive is not freed when it dies,
until the frozen objects are put back (``gc.unfreeze``) for one full walk, which
happens every ``thaw_every_s`` (the leak is bounded by the cycles that die in that
time; a decoded row is not a cycle). The benchmarks time queries the same way
(:mod:`fleetgraph.bench.queries`).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

THAW_EVERY_S = 900.0  # a full walk of everything (frees dead frozen cycles) this often


class SurvivorFreezer:
    """A ``gc.callbacks`` hook: after each full collection, freeze its survivors; when
    ``thaw_every_s`` has passed since the last thaw, unfreeze instead, so that the next
    full collection walks (and frees) everything, then freezes again."""

    def __init__(self, thaw_every_s: float = THAW_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thaw_every_s = thaw_every_s
        self._clock = clock
        self._thawed_at = clock()
        self.freezes = 0
        self.thaws = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        now = self._clock()
        if now - self._thawed_at >= self.thaw_every_s:
            self._thawed_at = now
            self.thaws += 1
            gc.unfreeze()  # the next full collection walks everything
        else:
            self.freezes += 1
            gc.freeze()


@contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Collect once, then freeze what is alive until the block ends (unfrozen after)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def collector_for_serving(thaw_every_s: float = THAW_EVERY_S,
                          clock: Callable[[], float] = time.monotonic
                          ) -> Iterator[SurvivorFreezer]:
    """The start frozen, and the survivors of each full collection frozen, until the
    block ends (everything unfrozen then)."""
    freezer = SurvivorFreezer(thaw_every_s, clock)
    with long_lived_frozen():
        gc.callbacks.append(freezer)
        try:
            yield freezer
        finally:
            gc.callbacks.remove(freezer)
