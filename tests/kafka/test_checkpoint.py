"""The source-side checkpoint (ingest.kafka.checkpoint): the commit rule and the order
of a commit, on a real (unstarted) faust-streaming consumer whose broker commit is
replaced by a recorder. What may be committed is compared with an independent
computation: the first offset of the partition never processed (or its end)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faust.types.tuples import TP

from fleetgraph.ingest.kafka.app import create_app
from fleetgraph.ingest.kafka.checkpoint import (
    CheckpointFailed,
    SourceCheckpoint,
    checkpoint_of,
    may_commit,
)
from fleetgraph.settings import Settings

SOURCE, OTHER = "fg.jobs", "fg.ingest-dedup-changelog"


class Committing:
    """An app's consumer with its checkpoint (or none), committing to a list: the test
    side of Faust's commit (``force_commit``) without a broker."""

    def __init__(self, tmp_path: Path, *, checkpoint: bool = True) -> None:
        settings = Settings().updated(data_dir=tmp_path, kafka={"topic_prefix": "fg."})
        self.app = create_app(settings, partitions=4)
        self.consumer = self.app.consumer
        self.checkpoint: SourceCheckpoint | None = None
        if checkpoint:
            self.checkpoint = checkpoint_of(self.app)
            self.checkpoint.watch({SOURCE})
        self.events: list[Any] = []
        self.assigned: set[Any] = set()
        self.consumer.assignment = lambda: self.assigned
        self.consumer._commit = self._commit

    async def _commit(self, offsets: Any) -> bool:
        self.events.append(("commit", dict(offsets)))
        return True

    def ack(self, tp: Any, *offsets: int) -> None:
        """As Faust's ``ack`` of a message the agent processed."""
        self.assigned.add(tp)
        for offset in offsets:
            if offset not in self.consumer._acked_index[tp]:
                self.consumer._acked_index[tp].add(offset)
                self.consumer._acked[tp].append(offset)

    async def gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        """What Faust's fetch loop does when the offsets it reads jump."""
        await self.consumer._add_gap(tp, offset_from, offset_to)

    def commit(self) -> bool:
        return bool(asyncio.run(self.consumer.force_commit()))

    def committed(self, tp: Any) -> int | None:
        value: int | None = self.consumer._committed_offset.get(tp)
        return value


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Committing]:
    yield Committing(tmp_path)


def test_the_rule() -> None:
    assert not may_commit(None, [])
    assert may_commit(None, [0, 1, 2])
    assert not may_commit(None, [1, 2])  # offset 0 never processed
    assert may_commit(4, [4, 5, 7])
    assert not may_commit(4, [5, 6, 7])
    assert may_commit(4, [3, 4])  # a re-read below the commit


def test_a_run_of_processed_offsets_is_committed_to_its_end(worker: Committing) -> None:
    tp = TP(SOURCE, 0)
    worker.ack(tp, 0, 1, 2)
    assert worker.commit()
    assert worker.committed(tp) == 3
    worker.ack(tp, 3, 4, 6, 7)  # 5 not (yet) processed
    assert worker.commit()
    assert worker.committed(tp) == 5
    worker.ack(tp, 5)
    assert worker.commit()
    assert worker.committed(tp) == 8


def test_a_missing_first_offset_holds_the_commit_where_faust_alone_goes_past_it(
    tmp_path: Path
) -> None:
    tp = TP(SOURCE, 1)
    for guarded, expected in ((False, 8), (True, 4)):
        worker = Committing(tmp_path / str(guarded), checkpoint=guarded)
        worker.ack(tp, 0, 1, 2, 3)
        worker.commit()
        worker.ack(tp, 5, 6, 7)  # offset 4 never reached the agent
        worker.commit()
        assert worker.committed(tp) == expected, guarded
    assert worker.checkpoint is not None and worker.checkpoint.held == 1
    worker.ack(tp, 4)  # read again (the stall guard's rewind)
    worker.commit()
    assert worker.committed(tp) == 8


def test_a_partition_never_committed_waits_for_its_offset_zero(tmp_path: Path) -> None:
    tp = TP(SOURCE, 2)
    for guarded, expected in ((False, 3), (True, None)):
        worker = Committing(tmp_path / str(guarded), checkpoint=guarded)
        worker.ack(tp, 1, 2)
        worker.commit()
        assert worker.committed(tp) == expected, guarded


def test_skipped_offsets_are_not_acknowledged_on_source_topics(tmp_path: Path) -> None:
    source, other = TP(SOURCE, 0), TP(OTHER, 0)
    for guarded, expected in ((False, 10), (True, 5)):
        worker = Committing(tmp_path / str(guarded), checkpoint=guarded)
        worker.ack(source, 0, 1, 2, 3, 4)
        worker.commit()
        asyncio.run(worker.gap(source, 5, 7))  # read 4, then 8: 5-7 never delivered
        worker.ack(source, 8, 9)
        worker.commit()
        assert worker.committed(source) == expected, guarded
    assert worker.checkpoint is not None and worker.checkpoint.gaps == 1
    # not a source topic: Faust's rule (a gap there is a compacted topic's)
    worker.ack(other, 0, 1)
    worker.commit()
    asyncio.run(worker.gap(other, 2, 3))
    worker.ack(other, 4)
    worker.commit()
    assert worker.committed(other) == 5


def test_random_deliveries_never_commit_past_an_offset_not_processed(tmp_path: Path) -> None:
    rng = random.Random(11)
    worker = Committing(tmp_path)
    for case in range(60):
        tp = TP(SOURCE, case)
        end = rng.randrange(5, 60)
        lost = set(rng.sample(range(end), rng.randrange(0, 3)))
        delivered = [o for o in range(end) if o not in lost]
        rng.shuffle(delivered)  # acks in any order (re-reads, concurrent agents' acks)
        while delivered:
            take = rng.randrange(1, 10)
            worker.ack(tp, *delivered[:take])
            delivered = delivered[take:]
            worker.commit()
            first_missing = min(lost | {o for o in delivered}, default=end)
            committed = worker.committed(tp) or 0
            assert committed <= first_missing, (case, lost, committed)
        assert (worker.committed(tp) or 0) == min(lost, default=end), (case, lost)


def test_a_commit_persists_first_and_waits_for_the_writes_sent_before_it(
    worker: Committing
) -> None:
    assert worker.checkpoint is not None
    checkpoint = worker.checkpoint
    tp = TP(SOURCE, 3)

    async def run() -> None:
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def persist() -> None:  # the dedup buffer writes its changed entries
            worker.events.append(("persist", worker.committed(tp)))
            checkpoint.track(written)

        checkpoint.before_commit.append(persist)
        worker.ack(tp, 0, 1, 2)
        commit = asyncio.ensure_future(worker.consumer.force_commit())
        await asyncio.sleep(0.05)
        assert worker.events == [("persist", None)]  # the changelog write not in Kafka yet
        assert not commit.done()
        written.set_result(None)
        assert await commit
        assert worker.events == [("persist", None), ("commit", {tp: 3})]

    asyncio.run(run())


def test_a_failed_write_stops_every_commit(worker: Committing) -> None:
    assert worker.checkpoint is not None
    checkpoint = worker.checkpoint
    tp, other = TP(SOURCE, 0), TP(OTHER, 1)

    async def run() -> None:
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lost.set_exception(OSError("broker gone"))
        checkpoint.track(lost)
        worker.ack(tp, 0, 1)
        assert not await worker.consumer.force_commit()
        assert isinstance(worker.consumer.crash_reason, CheckpointFailed)  # Faust stops
        worker.ack(tp, 2)
        worker.ack(other, 0)
        assert not await worker.consumer.force_commit()

    asyncio.run(run())
    assert not [e for e in worker.events if e[0] == "commit"]
    assert isinstance(checkpoint.failure, OSError)


def test_a_handler_that_does_not_suspend_runs_in_place(worker: Committing) -> None:
    """The fetch loop's ``wait_first(handler(message), suspend_flow.wait())``: a handler
    that finishes at once runs in the loop's own task (no task made), and its
    exception reaches the loop as from Faust's ``wait_first``."""
    assert worker.checkpoint is not None
    consumer, seen = worker.consumer, []

    async def handler(message: int) -> None:
        seen.append(message)
        if message < 0:
            raise ValueError("undecodable")

    async def run() -> None:
        tasks = len(asyncio.all_tasks())
        for message in range(5):
            await consumer.wait_first(handler(message), consumer.suspend_flow.wait())
        assert len(asyncio.all_tasks()) == tasks
        with pytest.raises(ValueError):
            await consumer.wait_first(handler(-1), consumer.suspend_flow.wait())

    asyncio.run(run())
    assert seen == [0, 1, 2, 3, 4, -1]
    assert worker.checkpoint.handled_in_place == 5


def test_a_handler_that_suspends_goes_on_raced_against_the_flow(worker: Committing) -> None:
    """A handler that waits (a full buffer) finishes where it stopped, with what it
    waited for; one still waiting when the flow is suspended (a rebalance) is
    cancelled, as Faust's ``wait_first`` cancels it."""
    consumer, steps = worker.consumer, []

    async def handler(room: asyncio.Future[str]) -> str:
        steps.append("decoded")
        try:
            steps.append(await room)
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise
        return "put"

    async def run() -> None:
        loop = asyncio.get_running_loop()
        room: asyncio.Future[str] = loop.create_future()
        loop.call_later(0.02, room.set_result, "room")
        results = await consumer.wait_first(handler(room), consumer.suspend_flow.wait())
        assert results.results == ["put"]
        blocked: asyncio.Future[str] = loop.create_future()
        loop.call_later(0.02, consumer.suspend_flow.set)
        results = await consumer.wait_first(handler(blocked), consumer.suspend_flow.wait())
        assert results.results == [True]  # the flow's wait won
        await asyncio.sleep(0)

    consumer.loop.run_until_complete(run())  # Faust's wait_first makes tasks on that loop
    assert steps == ["decoded", "room", "decoded", "cancelled"]
    assert worker.checkpoint is not None and worker.checkpoint.handled_in_place == 0
