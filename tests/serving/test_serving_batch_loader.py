"""serving.loaders.BatchLoader: one read per batch, a cache per request, a future per
caller (a cancelled caller cancels nobody else's wait), errors to every caller."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable

import pytest

from fleetgraph.serving.loaders import BatchLoader
from fleetgraph.serving.reads import StoreReads


class Source:
    """A batch read that records its batches and the thread each ran in."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.threads: list[str] = []
        self.fail = fail

    def __call__(self, keys: list[str]) -> list[str]:
        self.batches.append(list(keys))
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise LookupError(f"no {keys}")
        return [k.upper() for k in keys]


def kind(n: int) -> Hashable:
    return ("test", n)


def loader(source: Source, budget_s: float = float("inf")) -> BatchLoader[str, str]:
    return BatchLoader(source, StoreReads(budget_s=budget_s), kind)


def test_loads_of_one_turn_are_one_read_and_read_keys_are_kept() -> None:
    source = Source()
    load = loader(source)

    async def run() -> list[object]:
        first = await asyncio.gather(load.load("a"), load.load("b"), load.load("a"))
        again = await load.load_many(["b", "a"])
        return [first, again]

    assert asyncio.run(run()) == [["A", "B", "A"], ["B", "A"]]
    assert source.batches == [["a", "b"]]


def test_a_new_kind_is_read_in_a_thread_then_inline() -> None:
    source = Source()
    load = loader(source)

    async def run() -> None:
        for key in ("a", "b", "c"):  # one key a batch: the same kind each time
            await load.load(key)

    asyncio.run(run())
    main = threading.current_thread().name
    assert source.threads[0] != main and source.threads[1:] == [main, main]
    never = Source()
    threaded = loader(never, budget_s=0.0)

    async def twice() -> None:
        for key in ("a", "b"):
            await threaded.load(key)

    asyncio.run(twice())
    assert main not in never.threads


def test_a_cancelled_caller_cancels_only_its_own_wait() -> None:
    source = Source()
    load = loader(source, budget_s=0.0)  # in a thread: the batch is still being read

    async def run() -> str:
        gone = asyncio.ensure_future(load.load("a"))
        stays = asyncio.ensure_future(load.load("a"))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await stays

    assert asyncio.run(run()) == "A"
    assert source.batches == [["a"]]


def test_a_failed_read_fails_every_caller_and_is_not_kept() -> None:
    source = Source(fail=True)
    load = loader(source)

    async def run() -> None:
        results = await asyncio.gather(load.load("a"), load.load("b"),
                                       return_exceptions=True)
        assert all(isinstance(r, LookupError) for r in results)
        source.fail = False
        assert await load.load("a") == "A"  # read again

    asyncio.run(run())
    assert source.batches == [["a", "b"], ["a"]]


def test_primed_keys_answer_waiting_loads_and_leave_the_batch() -> None:
    source = Source()
    load = loader(source)

    async def run() -> list[str]:
        waiting = asyncio.gather(load.load("a"), load.load("b"))
        load.prime_many({"a": "primed", "c": "C!"})
        return [*await waiting, await load.load("c")]

    assert asyncio.run(run()) == ["primed", "B", "C!"]
    assert source.batches == [["b"]]
