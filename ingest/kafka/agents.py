"""A worker's processing side, wired into its Faust app.

:func:`add_processing` adds, in this order:

- the ``dedup`` table and the buffer over it (:mod:`fleetgraph.ingest.kafka.dedup_table`);
- the inventory side input (:mod:`fleetgraph.ingest.kafka.sideinput`), which the
  source agents wait for before processing their first message;
- one agent per source topic, feeding :class:`SourceProcessors`
  (:mod:`fleetgraph.ingest.kafka.source_agents`), held while the dedup buffer is
  full (:mod:`fleetgraph.ingest.kafka.backpressure`);
- the timer flushing due dedup entries to the graph topics, and the stall check
  of the source partitions.

The sink side (graph topics into the store) is :mod:`fleetgraph.ingest.kafka.store_side`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.kafka.activity import Activity
from fleetgraph.ingest.kafka.backpressure import DEDUP_MAX_PENDING, DedupGate, scan_bound
from fleetgraph.ingest.kafka.dedup import MappedDedup
from fleetgraph.ingest.kafka.dedup_table import add_dedup_table, add_flush_timer, owned_partitions
from fleetgraph.ingest.kafka.processor import SourceProcessors
from fleetgraph.ingest.kafka.publisher import FaustPublisher
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.kafka.sideinput import (
    InventoryFollower,
    InventorySideInput,
    snapshot_path,
)
from fleetgraph.ingest.kafka.sinks import GraphTopicSink, TopicDeadLetters
from fleetgraph.ingest.kafka.source_agents import StallGuardTask, add_source_agents, add_stall_guard
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas.codec import EventCodec
from fleetgraph.schemas.topics import Topic
from fleetgraph.settings import Settings


@dataclass
class Processing:
    processors: SourceProcessors
    dedup: MappedDedup
    sink: GraphTopicSink
    follower: InventoryFollower | None
    ready: asyncio.Event  # the side input is ready and the dedup buffer not full
    owned: Callable[[], set[int]]  # the source partitions whose dedup entries are ours
    guard: StallGuardTask

    def pending(self) -> int:
        return self.dedup.pending(self.owned())

    def sources_waiting(self) -> bool:
        """Records wait on an assigned source partition (as of the last fetch)."""
        return self.guard.waiting()


def add_processing(
    app: Any,
    settings: Settings,
    names: TopicNames,
    registry: Registry,
    codec: EventCodec,
    activity: Activity,
    *,
    partitions: int,
    publish: Callable[[str, bytes | None, bytes], None] | None = None,
    follow_inventory: bool = True,
    validator: Validator | None = None,
    max_pending: int = DEDUP_MAX_PENDING,
) -> Processing:
    """The source agents, the dedup table and timer, and the inventory side input;
    the agents stop taking messages while the dedup buffer has more than
    ``max_pending`` entries waiting (:mod:`fleetgraph.ingest.kafka.backpressure`)."""
    graph_codec = GraphRecordCodec(registry, names)
    publish = publish or FaustPublisher(app, [*graph_codec.topics, names.deadletter])
    window_us = int(settings.ingest.dedup_window_s * 1_000_000)
    max_hold_s = settings.ingest.dedup_max_hold_s
    max_hold_us = None if max_hold_s is None else int(max_hold_s * 1_000_000)
    table, dedup = add_dedup_table(app, window_us, partitions, settings.ingest.dedup_mode,
                                   max_hold_us=max_hold_us,
                                   max_entries=scan_bound(max_pending))
    sink = GraphTopicSink(graph_codec, publish)
    validator = validator or Validator(registry)
    topology = Topology()
    processors = SourceProcessors(
        registry, codec, names, dedup, sink, TopicDeadLetters(names.deadletter, publish),
        topology=topology, validator=validator,
    )
    follower = None
    if follow_inventory:
        side_input = InventorySideInput(codec, validator, topology)
        inventory = names.source(Topic.INVENTORY)
        follower = InventoryFollower(settings.kafka.bootstrap, inventory, partitions, side_input,
                                     snapshot_path=snapshot_path(settings, inventory))
        app.task(follower.run)
        ready = follower.ready
    else:
        ready = asyncio.Event()
        ready.set()

    def owned() -> set[int]:
        return owned_partitions(app, table)

    # the agents take no message while the buffer is full (backpressure.py); counted as
    # it changes (a pass over the keys every 20 ms was a thirtieth of the event loop)
    gate = DedupGate(ready, lambda: dedup.waiting(owned()), max_pending,
                     rebalancing=lambda: bool(app.rebalancing))
    add_source_agents(app, names, processors, gate, activity)

    interval_s = max(0.2, min(1.0, settings.ingest.dedup_window_s / 2))
    add_flush_timer(app, dedup, sink, activity, owned, interval_s)
    guard = add_stall_guard(app, names, gate)
    return Processing(processors, dedup, sink, follower, gate, owned, guard)
