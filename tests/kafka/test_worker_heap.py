"""A worker gives the C heap's free pages back (glibc's malloc_trim) on a timer:
what a burst freed between live blocks is otherwise kept resident."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from fleetgraph.ingest.kafka.heap import heap_trimmer, trim_heap_every
from fleetgraph.ingest.kafka.worker import _trim_heap_every
from fleetgraph.settings import Settings


def _resident_anon_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    pytest.skip("no RssAnon in /proc/self/status")


def test_freed_blocks_between_live_ones_are_given_back() -> None:
    trim = heap_trimmer()
    if trim is None:
        pytest.skip("no malloc_trim in this C library")
    trim()
    # 48 MiB of 1 KiB blocks (bytes objects past pymalloc's 512: the C heap), every
    # 64th kept alive, so glibc cannot give the rest back from the heap's top
    blocks = [bytes(1024) + bytes([i % 256]) for i in range(48 * 1024)]
    kept = blocks[::64]
    del blocks
    before = _resident_anon_kib()
    assert trim() == 1
    given_back_mib = (before - _resident_anon_kib()) / 1024
    assert given_back_mib > 24, f"{given_back_mib:.1f} MiB given back"
    assert len(kept) == 768


class Timers:
    """An app's ``timer`` decorator, recording what it is given."""

    def __init__(self) -> None:
        self.added: list[tuple[float, str, Callable[[], Awaitable[None]]]] = []

    def timer(self, interval: float, name: str) -> Callable[[Any], Any]:
        def add(fn: Callable[[], Awaitable[None]]) -> Any:
            self.added.append((interval, name, fn))
            return fn
        return add


def test_the_worker_trims_on_a_timer_unless_told_not_to() -> None:
    if heap_trimmer() is None:
        pytest.skip("no malloc_trim in this C library")
    assert Settings().ingest.malloc_trim_s == 1.0  # on by default
    app, never = Timers(), Timers()
    _trim_heap_every(app, 0.5)
    _trim_heap_every(never, 0.0)
    assert [(interval, name) for interval, name, _ in app.added] == [
        (0.5, "fleetgraph.malloc_trim")]
    assert never.added == []
    asyncio.run(app.added[0][2]())  # the timer's body runs on the event loop


def test_the_sink_roles_loop_trims_every_interval() -> None:
    calls: list[int] = []

    def trim() -> int:
        calls.append(1)
        return 1

    async def run() -> None:
        task = asyncio.ensure_future(trim_heap_every(0.01, trim))
        while len(calls) < 3:
            await asyncio.sleep(0.005)
        task.cancel()

    asyncio.run(asyncio.wait_for(run(), 10))
    assert len(calls) >= 3
