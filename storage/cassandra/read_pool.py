"""Independent reads of one query run at once (``GraphStore.together``).

A query's reads that do not wait for each other (a dataset's readers and what was
derived from it; a rack's servers, CDU and power shelf) each cost a round trip or two
to the cluster; one after another, a query waits for the sum of them. Here the first
runs in the caller's thread and the others in a small pool of threads, each with its
own requests in flight (``execute_concurrent``), so the query waits for the longest
one. Each read runs in a copy of the caller's context (a request's deadline, read by
the serving layer's store proxies, goes with it). A read started from a pool thread
(a ``together`` inside a read of another) runs its reads in that thread, one after
another: a bounded pool never waits on itself.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

READ_THREADS = 4  # reads of the pool in flight at once, besides the caller's


class ReadPool:
    """The threads one store runs its callers' independent reads in (made on first use)."""

    def __init__(self, threads: int = READ_THREADS) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def run(self, reads: Sequence[Callable[[], Any]]) -> list[Any]:
        """The results of ``reads`` in order; after every read has ended, the first
        error raised (in their order) is raised."""
        if len(reads) < 2 or getattr(self._local, "pooled", False):
            return [read() for read in reads]
        pool = self._started()
        futures: list[Future[Any]] = [
            pool.submit(contextvars.copy_context().run, self._pooled, read)
            for read in reads[1:]]
        first: Any = None
        error: BaseException | None = None
        try:
            first = reads[0]()
        except BaseException as exc:
            error = exc
        results = [first]
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error
        return results

    def _pooled(self, read: Callable[[], Any]) -> Any:
        self._local.pooled = True
        return read()

    def _started(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads,
                                                thread_name_prefix="fleetgraph-reads")
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
