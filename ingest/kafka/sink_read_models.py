"""The sink's read models, recomputed beside its writes, not between them.

The sink (:mod:`fleetgraph.ingest.kafka.store_writer`) keeps the site-state and
replicas read models of what it writes, as
:class:`~fleetgraph.ingest.read_models.maintain.MaintainingStoreSink` says (what a
batch touches, marked at once; the recomputation's rows never replacing a later
mark). A recomputation reads each touched site's topology back from the store: on
Cassandra, under load, eight sites took 1-5 s. Made between two batches it held
every graph record that arrived meanwhile, a new node included, for as long (the
freshness bench's slowest probes). :class:`SinkReadModels` runs it in a thread of
its own, at most every :data:`READ_MODEL_EVERY_S`, and the sink writes on: its
batches never wait for a recomputation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.ingest.read_models.maintain import REFRESH_PACE, MaintainingStoreSink
from fleetgraph.storage.base import GraphStore

READ_MODEL_EVERY_S = 5.0  # the sink recomputes the sites it touched at most this often
READ_MODEL_PACE = REFRESH_PACE  # and waits this many times its last recomputation


class SinkReadModels(MaintainingStoreSink):
    """A MaintainingStoreSink recomputing in a thread of its own (``start``: how it runs
    one, a new thread by default)."""

    def __init__(self, store: GraphStore, clock: Callable[[], int] = wall_clock_us, *,
                 every_s: float = READ_MODEL_EVERY_S, pace: float = READ_MODEL_PACE,
                 monotonic: Callable[[], float] = time.monotonic,
                 timer: Callable[[], float] = time.perf_counter,
                 start: Callable[[Callable[[], None]], None] | None = None) -> None:
        super().__init__(store, clock, every_s=every_s, pace=pace, monotonic=monotonic,
                         timer=timer, start=start or _in_a_thread)


def _in_a_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="fleetgraph-read-models", daemon=True).start()
