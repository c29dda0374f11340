"""Per-request loaders: each hop of a GraphQL traversal is one batched store read.

Strawberry resolves the fields of sibling objects together, so every ``load`` made
for one hop lands in the same batch: one ``get_nodes`` for all the nodes of a hop,
one ``neighbours`` per (edge type, direction, window) for all their adjacency
lists. The store is synchronous; a batch runs on the event loop when batches of
its kind and size have been cheap, else in a worker thread (serving.reads).

:class:`BatchLoader` is a DataLoader (load, load_many, prime_many, a cache per
request) made for that: the batch is read in the loop callback that closes it when
it runs inline (strawberry's DataLoader starts a task per batch and a coroutine
per read), and every ``load`` gets a future of its own, so a caller cancelled
meanwhile (graphql-core cancels the siblings of a failed field) cancels only its
own wait, never the batch or another caller's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

from fleetgraph.graph_model.records import EdgeRecord, NodeRecord
from fleetgraph.serving.reads import StoreReads, size_class
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

NeighbourKey = tuple[str, Direction, TimeWindow | None]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchLoader(Generic[K, V]):
    """Loads keys in batches, one batch per event loop turn, each key once per request.

    ``read(keys)`` answers a batch (a value per key, in order) through ``reads`` as a
    bounded read of kind ``kind(batch size)``.
    """

    def __init__(self, read: Callable[[list[K]], list[V]], reads: StoreReads,
                 kind: Callable[[int], Hashable]) -> None:
        self._read = read
        self._reads = reads
        self._kind = kind
        self._values: dict[K, V] = {}
        self._waiting: dict[K, list[asyncio.Future[V]]] = {}  # keys being read
        self._batch: list[K] | None = None  # keys of the batch not closed yet
        self._reading: set[asyncio.Task[None]] = set()  # batches read in threads

    def load(self, key: K) -> Awaitable[V]:
        """The value of ``key``: at once when this request read it already, else with
        the batch of this loop turn."""
        return self._load(key)

    def _load(self, key: K) -> asyncio.Future[V]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        try:
            future.set_result(self._values[key])
            return future
        except KeyError:
            pass
        waiting = self._waiting.get(key)
        if waiting is None:
            self._waiting[key] = [future]
            if self._batch is None:
                self._batch = []
                loop.call_soon(self._close)
            self._batch.append(key)
        else:
            waiting.append(future)
        return future

    def load_many(self, keys: Iterable[K]) -> Awaitable[list[V]]:
        futures = [self._load(key) for key in keys]
        if all(f.done() for f in futures):  # cached: one future, no gather
            done: asyncio.Future[list[V]] = asyncio.get_running_loop().create_future()
            done.set_result([f.result() for f in futures])
            return done
        return asyncio.gather(*futures)

    def prime_many(self, data: Mapping[K, V]) -> None:
        """Keep ``data`` as read (values already kept stay); a key waiting in the batch
        not closed yet is answered from it and leaves the batch."""
        for key, value in data.items():
            if key in self._values:
                continue
            self._values[key] = value
            if self._batch is not None and key in self._batch:
                self._batch.remove(key)
                self._settle([key], [value])

    def _close(self) -> None:
        """The batch closes one loop turn later still (as strawberry's DataLoader starts
        its batch task): the loads of fields resolved in the next turn join it."""
        asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        batch, self._batch = self._batch or [], None
        keys = []
        for key in batch:
            if all(f.cancelled() for f in self._waiting[key]):
                del self._waiting[key]  # nobody waits for it any more
            else:
                keys.append(key)
        if not keys:
            return
        kind = self._kind(len(keys))
        if self._reads.runs_inline(kind):
            try:
                values = self._reads.run_now(kind, self._read, keys)
            except Exception as error:
                self._fail(keys, error)
                return
            self._settle(keys, values)
            return
        task = asyncio.get_running_loop().create_task(self._read_in_thread(kind, keys))
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)

    async def _read_in_thread(self, kind: Hashable, keys: list[K]) -> None:
        try:
            values = await self._reads.run(kind, self._read, keys, bounded=True)
        except Exception as error:
            self._fail(keys, error)
            return
        self._settle(keys, values)

    def _settle(self, keys: list[K], values: list[V]) -> None:
        if len(values) != len(keys):
            self._fail(keys, ValueError(
                f"a batch read answered {len(values)} values for {len(keys)} keys"))
            return
        for key, value in zip(keys, values, strict=True):
            self._values[key] = value
            for future in self._waiting.pop(key, ()):
                if not future.done():
                    future.set_result(value)

    def _fail(self, keys: list[K], error: Exception) -> None:
        for key in keys:
            for future in self._waiting.pop(key, ()):
                if not future.done():
                    future.set_exception(error)


class GraphLoaders:
    """The loaders of one request; create a new one per request (they cache)."""

    def __init__(self, store: GraphStore, reads: StoreReads | None = None) -> None:
        self._store = store
        self._reads = StoreReads() if reads is None else reads
        self.nodes: BatchLoader[str, NodeRecord | None] = BatchLoader(
            self._read_nodes, self._reads, _nodes_kind)
        self._neighbours: dict[NeighbourKey, BatchLoader[str, list[EdgeRecord]]] = {}

    def neighbours(
        self, edge_type: str, direction: Direction, window: TimeWindow | None
    ) -> BatchLoader[str, list[EdgeRecord]]:
        """The loader of adjacency lists for one edge type, direction and window."""
        key = (edge_type, direction, window)
        loader = self._neighbours.get(key)
        if loader is None:
            batch = _NeighbourBatch(self._store, *key)
            loader = BatchLoader(batch, self._reads, batch.kind)
            self._neighbours[key] = loader
        return loader

    def _read_nodes(self, ids: list[str]) -> list[NodeRecord | None]:
        found = self._store.get_nodes(ids)
        return [found.get(node_id) for node_id in ids]


def _nodes_kind(n: int) -> Hashable:
    return ("get_nodes", size_class(n))


class _NeighbourBatch:
    """The batch read of one neighbours loader."""

    def __init__(
        self,
        store: GraphStore,
        edge_type: str,
        direction: Direction,
        window: TimeWindow | None,
    ) -> None:
        self._store = store
        self._edge_type = edge_type
        self._direction = direction
        self._window = window

    def kind(self, n: int) -> Hashable:
        return ("neighbours", self._edge_type, self._direction, self._window is None,
                size_class(n))

    def __call__(self, ids: list[str]) -> list[list[EdgeRecord]]:
        found = self._store.neighbours(self._edge_type, ids, self._direction, self._window)
        return [found.get(node_id, []) for node_id in ids]
