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

:class:`StallGuard` closes these for the source topics:

- it refuses Faust's "gap" acknowledgement on them (they are not compacted:
  a jump means lost records), so the commit stays before what was skipped;
- it holds a commit whose next offset was never acknowledged (Faust commits
  past one missing message at the head of what was acknowledged);
- every few seconds it looks at each assigned source partition: when
  records on the broker are not committed (the end offset is past the
  commit) and the commit has not moved for ``stall_after_s``, it logs the
  partition's state, puts it back into the fetch set and seeks it to its
  commit. Records read twice are merged by the dedup buffer and the stores,
  so a repair is harmless even when it was not needed.

It reads Faust's and aiokafka's consumer state, which are not public APIs:
``tests/kafka/test_stall_guard.py`` pins what it relies on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Seen:
    committed: int | None  # the partition's commit when it last moved
    since: float


@dataclass
class PartitionState:
    """What the guard knows of one partition."""

    tp: Any
    end: int | None  # the broker's end offset, as of the last fetch
    read: int | None  # the last offset the stream took in (Faust's read offset)
    committed: int | None  # the next offset to process, as committed

    @property
    def behind(self) -> bool:
        """Records on the broker are not processed and committed yet."""
        return self.end is not None and self.end > (self.committed or 0)


@dataclass
class StallGuard:
    consumer: Any  # faust's Consumer
    topics: set[str]  # the source topics to watch
    stall_after_s: float = 15.0
    clock: Callable[[], float] = time.monotonic
    seen: dict[Any, _Seen] = field(default_factory=dict)
    rewound: int = 0
    reread: int = 0  # messages read again by repairs (they count twice as received)
    gaps: int = 0
    held: int = 0  # commits held because the next offset was not acknowledged

    def __post_init__(self) -> None:
        self._refuse_gaps()
        self._hold_commits_at_a_missing_head()

    def _hold_commits_at_a_missing_head(self) -> None:
        """Faust commits the first run of acknowledged offsets even when the offset
        right after the last commit is not among them: it only refuses when more
        than one is missing (``min(acked) - committed > 1``), and checks nothing
        while the commit is 0. A message dropped on the way to the agent, alone,
        was so committed past and lost. Hold such a commit: the partition then
        stalls, and :meth:`check` reads it again from the commit."""
        consumer = self.consumer
        original = consumer._new_offset
        topics = self.topics

        def new_offset(tp: Any) -> int | None:
            if tp.topic in topics:
                acked = consumer._acked.get(tp)
                expected = consumer._committed_offset.get(tp) or 0
                if acked and min(acked) > expected:
                    self.held += 1
                    return None
            result: int | None = original(tp)
            return result

        consumer._new_offset = new_offset

    def _refuse_gaps(self) -> None:
        """Faust counts offsets it never delivered (a jump in what it reads) as
        acknowledged, for compacted topics; source topics are not compacted, so such a
        jump means records were lost on the way to the agent. Refuse to acknowledge
        them: the commit stays before them, and :meth:`check` reads them again."""
        consumer = self.consumer
        original = consumer._add_gap
        topics = self.topics

        async def add_gap(tp: Any, offset_from: int, offset_to: int) -> None:
            if tp.topic not in topics:
                await original(tp, offset_from, offset_to)
                return
            self.gaps += 1
            log.warning("source partition %s:%s: offsets %d-%d were skipped on the way to "
                        "the agent; not acknowledging them (they are read again)",
                        tp.topic, tp.partition, offset_from, offset_to - 1)

        consumer._add_gap = add_gap

    def states(self) -> list[PartitionState]:
        consumer = self.consumer
        kafka = consumer._thread._ensure_consumer()
        states = []
        for tp in consumer.assignment():
            if tp.topic not in self.topics:
                continue
            states.append(PartitionState(tp, kafka.highwater(tp), consumer._read_offset.get(tp),
                                         consumer._committed_offset.get(tp)))
        return states

    def describe(self, tp: Any) -> str:
        consumer = self.consumer
        active = consumer._active_partitions
        return (f"active={active is None or tp in active} "
                f"paused={tp in consumer._paused_partitions} "
                f"buffered={tp in consumer._buffered_partitions} "
                f"flow={consumer.flow_active}")

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
        consumer = self.consumer
        log.warning("source partition %s:%s stalled for %.0f s (committed %s, read %s, end %s) "
                    "[%s]; reading it again from its commit", state.tp.topic,
                    state.tp.partition, stalled_s, state.committed, state.read, state.end,
                    self.describe(state.tp))
        consumer._buffered_partitions.discard(state.tp)
        consumer.resume_partitions([state.tp])
        await consumer.seek(state.tp, state.committed or 0)
        self.rewound += 1
        if state.read is not None:
            self.reread += max(0, state.read + 1 - (state.committed or 0))
