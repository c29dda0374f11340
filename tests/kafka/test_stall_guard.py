"""The stall guard (ingest.kafka.stall_guard): when it repairs a partition, and how
(through the checkpoint). What the checkpoint relies on in faust-streaming is
tests/kafka/test_checkpoint_contract.py; its commit rule tests/kafka/test_checkpoint.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fleetgraph.ingest.kafka.checkpoint import SourceCheckpoint
from fleetgraph.ingest.kafka.stall_guard import PartitionState, StallGuard


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class FakeConsumer:
    """The parts of faust's Consumer the checkpoint touches."""

    _read_offset: dict[Any, int | None] = field(default_factory=dict)
    _committed_offset: dict[Any, int | None] = field(default_factory=dict)
    _buffered_partitions: set[Any] = field(default_factory=set)
    _paused_partitions: set[Any] = field(default_factory=set)
    _active_partitions: set[Any] | None = field(default_factory=set)
    flow_active: bool = True
    resumed: list[Any] = field(default_factory=list)
    seeks: list[tuple[Any, int]] = field(default_factory=list)
    gaps: list[tuple[Any, int, int]] = field(default_factory=list)
    _acked: dict[Any, list[int]] = field(default_factory=dict)

    def _new_offset(self, tp: Any) -> int | None:  # faust's: the first run of acks, + 1
        acked = self._acked.get(tp)
        return acked[-1] + 1 if acked else None

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        self.gaps.append((tp, offset_from, offset_to))

    async def _handle_attached(self, offsets: Any) -> None:
        pass

    ends: dict[Any, int] = field(default_factory=dict)

    def assignment(self) -> set[Any]:
        return set(self.ends)

    def highwater(self, tp: Any) -> int:
        return self.ends[tp]

    def resume_partitions(self, tps: list[Any]) -> None:
        self.resumed.extend(tps)

    async def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp, offset))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _guard(consumer: FakeConsumer, clock: Clock) -> StallGuard:
    return StallGuard(SourceCheckpoint(consumer, {"fg.jobs"}), stall_after_s=15.0, clock=clock)


def test_a_partition_whose_commit_stays_behind_its_end_is_read_again_from_its_commit() -> None:
    consumer, clock = FakeConsumer(), Clock()
    guard = _guard(consumer, clock)
    stuck = TP("fg.jobs", 1)
    consumer._buffered_partitions.add(stuck)
    state = PartitionState(stuck, end=500, read=499, committed=120)
    assert asyncio.run(guard.check([state])) == 0  # first look
    clock.now += 10
    assert asyncio.run(guard.check([state])) == 0  # not long enough yet
    clock.now += 6
    assert asyncio.run(guard.check([state])) == 1
    assert consumer.seeks == [(stuck, 120)] and consumer.resumed == [stuck]
    assert stuck not in consumer._buffered_partitions
    clock.now += 5
    assert asyncio.run(guard.check([state])) == 0  # a repair restarts the wait


def test_a_moving_commit_or_a_caught_up_partition_is_left_alone() -> None:
    consumer, clock = FakeConsumer(), Clock()
    guard = _guard(consumer, clock)
    busy, done = TP("fg.jobs", 0), TP("fg.jobs", 2)
    for step in range(10):
        states = [PartitionState(busy, end=10_000, read=100 * step + 99, committed=100 * step),
                  PartitionState(done, end=300, read=299, committed=300)]
        assert asyncio.run(guard.check(states)) == 0
        clock.now += 10
    assert consumer.seeks == [] and consumer.resumed == []


def test_an_unknown_end_is_not_behind_and_a_zero_commit_reads_from_the_start() -> None:
    assert not PartitionState(TP("fg.jobs", 0), end=None, read=None, committed=None).behind
    consumer, clock = FakeConsumer(), Clock()
    guard = _guard(consumer, clock)
    never_read = PartitionState(TP("fg.jobs", 3), end=44, read=None, committed=None)
    asyncio.run(guard.check([never_read]))
    clock.now += 20
    assert asyncio.run(guard.check([never_read])) == 1
    assert consumer.seeks == [(TP("fg.jobs", 3), 0)]


def test_the_states_are_the_watched_partitions_as_the_consumer_has_them() -> None:
    consumer = FakeConsumer()
    jobs, changelog = TP("fg.jobs", 0), TP("fg.ingest-dedup-changelog", 0)
    consumer.ends = {jobs: 90, changelog: 7}
    consumer._read_offset[jobs], consumer._committed_offset[jobs] = 80, 75
    guard = _guard(consumer, Clock())
    assert guard.states() == [PartitionState(jobs, end=90, read=80, committed=75)]
    consumer._active_partitions = None  # Faust's "all of them"
    consumer._paused_partitions.add(jobs)
    assert guard.describe(jobs) == "active=True paused=True buffered=False flow=True"
