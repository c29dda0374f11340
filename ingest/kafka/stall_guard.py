"""A watchdog for source records that Faust never delivers to the agents.

faust-streaming 0.15 can lose source records between the broker and the
agent without a word. In our crash drill, under load: a restarted worker
never read two of the four partitions of one source topic while records
waited on both; a partition was read to its end while part of it never
reached the agent; and a single record that never reached the agent was
committed past, because Faust commits the first run of acknowledged offsets
when only one offset before it is missing. When the offsets it delivers
jump, Faust also counts the skipped ones as acknowledged (meant for
compacted topics).

The commit rule of :mod:`fleetgraph.ingest.kafka.checkpoint` keeps the commit
before what was skipped (it refuses Faust's "gap" acknowledgement on source
topics and holds a commit whose next offset was never acknowledged), so such a
partition stalls behind its end. :class:`StallGuard` repairs it: every few
seconds it looks at each assigned source partition; when records on the broker
are not committed (the end offset is past the commit) and the commit has not
moved for ``stall_after_s``, it logs the partition's state, puts it back into
the fetch set and seeks it to its commit. Records read twice are merged by the
dedup buffer and the stores, so a repair is harmless even when it was not needed.

It reads and moves the consumer only through the checkpoint (the one module that
touches Faust's private state).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fleetgraph.ingest.kafka.checkpoint import PartitionState, SourceCheckpoint

__all__ = ["PartitionState", "StallGuard"]

log = logging.getLogger(__name__)


@dataclass
class _Seen:
    committed: int | None  # the partition's commit when it last moved
    since: float


@dataclass
class StallGuard:
    """Watches the source partitions of ``checkpoint`` (its ``topics``)."""

    checkpoint: SourceCheckpoint
    stall_after_s: float = 15.0
    clock: Callable[[], float] = time.monotonic
    seen: dict[Any, _Seen] = field(default_factory=dict)
    rewound: int = 0
    reread: int = 0  # messages read again by repairs (they count twice as received)

    @property
    def consumer(self) -> Any:
        return self.checkpoint.consumer

    @property
    def gaps(self) -> int:
        """Gap acknowledgements refused on the source topics."""
        return self.checkpoint.gaps

    @property
    def held(self) -> int:
        """Commits held because the next offset was not acknowledged."""
        return self.checkpoint.held

    def states(self) -> list[PartitionState]:
        return self.checkpoint.states()

    def describe(self, tp: Any) -> str:
        return self.checkpoint.describe(tp)

    async def check(self, states: Iterable[PartitionState] | None = None) -> int:
        """Look at every partition once; return how many were repaired."""
        now = self.clock()
        repaired = 0
        current = list(self.states() if states is None else states)
        for state in current:
            seen = self.seen.get(state.tp)
            if seen is None or seen.committed != state.committed or not state.behind:
                self.seen[state.tp] = _Seen(state.committed, now)
                continue
            if now - seen.since < self.stall_after_s:
                continue
            await self._repair(state, now - seen.since)
            seen.since = now
            repaired += 1
        gone = set(self.seen) - {state.tp for state in current}
        for tp in gone:
            del self.seen[tp]
        return repaired

    async def _repair(self, state: PartitionState, stalled_s: float) -> None:
        """Put the partition back into the fetch set and read it again from its commit."""
        log.warning("source partition %s:%s stalled for %.0f s (committed %s, read %s, end %s) "
                    "[%s]; reading it again from its commit", state.tp.topic,
                    state.tp.partition, stalled_s, state.committed, state.read, state.end,
                    self.describe(state.tp))
        await self.checkpoint.rewind(state.tp, state.committed or 0)
        self.rewound += 1
        if state.read is not None:
            self.reread += max(0, state.read + 1 - (state.committed or 0))
