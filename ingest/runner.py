"""The embedded runner: drives the pipeline in-process into a store.

Side inputs first: inventory messages are processed before the others, so the
topology that enriches telemetry and jobs is complete and enrichment does not
depend on arrival order (Faust workers get the same effect from a global table
of the inventory topic).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import compress, tee
from operator import attrgetter, not_

from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline, PipelineStats
from fleetgraph.schemas.topics import Topic

SIDE_INPUTS = frozenset({Topic.INVENTORY.value})
# allocations between young collections while the runner runs (Python's default: 700;
# 10,000 -> 50,000 took 4 % off the 1e5 bench's stages: each young collection walks
# what a few hundred events left alive, the upserts waiting in dedup and for a write)
YOUNG_COLLECTION_EVERY = 50_000


@contextmanager
def ingest_collector(young: int = YOUNG_COLLECTION_EVERY) -> Iterator[None]:
    """Python's cyclic collector tuned for a run: its youngest generation collected
    every ``young`` allocations instead of every 700.

    Events are short-lived, but the upserts waiting for a write batch live over
    thousands of them; at the default, they outlive two young collections, are
    promoted to the oldest generation, and make it collected in full over and over
    (the whole heap walked, nothing found: a fifth of a run's time at 1e5 events).
    Collected less often, they are written and freed before they are promoted.
    Cycles are still collected; the previous thresholds are back afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(max(young, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass
class RunReport:
    stats: PipelineStats
    seconds: float
    collapsed: int
    # side-input changes older than events stored before this run (``ingest --append``):
    # those events keep the enrichment they got then
    late_side_inputs: int = 0

    @property
    def events_per_second(self) -> float:
        return self.stats.received / self.seconds if self.seconds > 0 else 0.0


def of_kind(messages: Iterable[Message], side_inputs: bool) -> Iterator[Message]:
    """The side inputs among ``messages``, or the others, in their order (filtered by
    iterators of the standard library: no Python call per message)."""
    kept, read = tee(messages)
    is_side_input = map(SIDE_INPUTS.__contains__, map(attrgetter("topic"), read))
    return compress(kept, is_side_input if side_inputs else map(not_, is_side_input))


def run_embedded(
    pipeline: Pipeline,
    messages: Callable[[], Iterable[Message]],
    *,
    on_message: Callable[[], object] | None = None,
    on_side_inputs: Callable[[], object] | None = None,
) -> RunReport:
    """Process every message of ``messages()`` (called twice: side inputs, then the rest);
    ``on_side_inputs`` runs in between (the embedded ingest stores the topology then).
    Each pass has its own dedup clock (:meth:`Pipeline.end_pass`)."""
    started = time.perf_counter()
    with ingest_collector():
        pipeline.process_many(of_kind(messages(), True), on_message)
        pipeline.end_pass()
        if on_side_inputs is not None:
            on_side_inputs()
        pipeline.process_many(of_kind(messages(), False), on_message)
        pipeline.flush()
    return RunReport(pipeline.stats, time.perf_counter() - started, pipeline.dedup.collapsed)
