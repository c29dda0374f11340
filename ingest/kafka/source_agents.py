"""The source agents: one per source topic (``fleetgraph.process.<topic>``), each
feeding its messages to :class:`~fleetgraph.ingest.kafka.processor.SourceProcessors`
(the embedded runner's stages) once the inventory side input is ready; and the
timer that checks their partitions for records Faust never delivers
(:mod:`fleetgraph.ingest.kafka.stall_guard`). The source topics are watched by the
app's checkpoint (:mod:`fleetgraph.ingest.kafka.checkpoint`): its commit rule applies
to them from before the first fetch."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fleetgraph.ingest.kafka.activity import Activity
from fleetgraph.ingest.kafka.checkpoint import checkpoint_of
from fleetgraph.ingest.kafka.processor import SourceProcessors
from fleetgraph.ingest.kafka.stall_guard import StallGuard
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.schemas.topics import SOURCE_TOPICS

log = logging.getLogger(__name__)
STALL_CHECK_S = 5.0
YIELD_EVERY = 32  # messages an agent takes between two turns it gives the event loop


def add_source_agents(app: Any, names: TopicNames, processors: SourceProcessors,
                      ready: asyncio.Event, activity: Activity) -> None:
    """One agent per source topic of ``names``."""
    for topic in SOURCE_TOPICS:
        _add_source_agent(app, names.source(topic), processors, ready, activity)


def _add_source_agent(app: Any, topic_name: str, processors: SourceProcessors,
                      ready: asyncio.Event, activity: Activity) -> None:
    channel = app.topic(topic_name, key_serializer="raw", value_serializer="raw")

    async def process(stream: Any) -> None:
        # Iterate at once: Faust subscribes a topic only when its stream is iterated,
        # so waiting before the loop would leave this worker's partitions unread.
        taken = 0
        # The stream itself, not stream.events(): one async generator less a message;
        # its current event is the one whose value it just gave (what events() yields)
        async for _value in stream:
            event = stream.current_event
            if event is None:  # a value without an event: none on a topic's channel
                continue
            if not ready.is_set():
                await ready.wait()  # the topology side input first, as the embedded runner
            message = event.message
            processors.process(message.topic, message.partition, message.offset, message.value)
            taken += 1
            if taken % YIELD_EVERY == 1:
                activity.event()
                # A stream with a full buffer never suspends; let the sink, the
                # producer and the timers run too (every few messages: a turn of the
                # loop per message was a large part of an agent's cost).
                await asyncio.sleep(0)

    app.agent(channel, name=f"fleetgraph.process.{topic_name}")(process)


class StallGuardTask:
    """The app's StallGuard on its checkpoint, which watches ``topics`` from the start
    (so that Faust's gap acknowledgement is refused before the first fetch)."""

    def __init__(self, app: Any, topics: set[str], ready: asyncio.Event) -> None:
        self.app = app
        self.ready = ready  # the source agents wait for the topology before the first event
        checkpoint = checkpoint_of(app)
        checkpoint.watch(topics)
        self.guard = StallGuard(checkpoint)

    async def check(self) -> None:
        if self.app.rebalancing or not self.ready.is_set():
            return
        try:
            await self.guard.check()
        except Exception:
            log.exception("checking the source partitions for stalls failed")

    @property
    def reread(self) -> int:
        return self.guard.reread

    def waiting(self) -> bool:
        try:
            return any(state.behind for state in self.guard.states())
        except Exception:  # no consumer yet
            return True


def add_stall_guard(app: Any, names: TopicNames, ready: asyncio.Event) -> StallGuardTask:
    """Check the source partitions every :data:`STALL_CHECK_S` seconds."""
    guard = StallGuardTask(app, {names.source(topic) for topic in SOURCE_TOPICS}, ready)
    app.timer(STALL_CHECK_S, name="fleetgraph.stall_guard")(guard.check)
    return guard
