"""The garbage collector and a query's latency.

A full collection walks every object the collector tracks: in a server that is the
modules, the GraphQL schema and the store's state (several hundred thousand objects,
tens of milliseconds a walk here), paid by whichever query runs into it: its p99. What
is alive when the server starts lives as long as the server, so it is moved out of the
collector's reach (``gc.freeze``); a full collection then walks what requests made since.
The benchmarks measure queries the same way (:mod:`fleetgraph.bench.queries`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Collect once, then freeze what is alive until the block ends (unfrozen after)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
