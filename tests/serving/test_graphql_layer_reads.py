"""The cut of a read on trial on the event loop (serving.reads) counts the loop's CPU
time, and reads the CPU clock (a system call) only once the wall clock is past the cut:
a thread's CPU time grows no faster than the wall clock."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.serving import reads as reads_module
from fleetgraph.serving.deadline import DeadlineStore
from fleetgraph.serving.reads import StoreReads
from fleetgraph.storage.embedded import SQLiteGraphStore


def store() -> DeadlineStore:
    deadline_store = DeadlineStore(SQLiteGraphStore(FLEET, ":memory:"))
    deadline_store.init_schema()
    return deadline_store


def on_trial(reads: StoreReads, read: object, rounds: int = 2) -> list[str]:
    """The thread each of ``rounds`` reads of one kind ran in (the first, of a new kind,
    in a worker thread; then inline on trial)."""
    async def run() -> list[str]:
        return [await reads.run("searchNodes", read) for _ in range(rounds)]  # type: ignore[arg-type]

    return asyncio.run(run())


def test_a_cheap_read_on_trial_reads_the_cpu_clock_once_whatever_its_store_calls(
        monkeypatch: pytest.MonkeyPatch) -> None:
    deadline_store = store()
    cpu_reads: list[float] = []
    thread_time = time.thread_time

    def counted() -> float:
        if threading.current_thread() is threading.main_thread():
            cpu_reads.append(thread_time())
            return cpu_reads[-1]
        return thread_time()

    monkeypatch.setattr(reads_module.time, "thread_time", counted)
    reads = StoreReads(budget_s=float("inf"), cut_s=60.0)

    def search() -> str:
        for _ in range(50):
            deadline_store.scan_nodes("site", None, 10)
        return threading.current_thread().name

    threads = on_trial(reads, search)
    assert threads[1] == threading.main_thread().name and reads.cut == 0
    assert len(cpu_reads) == 1  # when the trial began; none for its 50 store calls


def test_a_read_waiting_on_the_wall_clock_without_using_cpu_is_not_cut() -> None:
    """Past the cut by the wall clock (a preempted loop, a slow disk) but not by CPU
    time: the read goes on inline."""
    deadline_store = store()
    reads = StoreReads(budget_s=float("inf"), cut_s=0.005)

    def search() -> str:
        for _ in range(5):
            deadline_store.scan_nodes("site", None, 10)
            time.sleep(0.004)  # 20 ms of wall time in all, next to no CPU
        return threading.current_thread().name

    threads = on_trial(reads, search)
    assert threads[1] == threading.main_thread().name and reads.cut == 0
