"""Per-request DataLoaders: each hop of a GraphQL traversal is one batched store read.

Strawberry resolves the fields of sibling objects together, so every ``load`` made
for one hop lands in the same batch: one ``get_nodes`` for all the nodes of a hop,
one ``neighbours`` per (edge type, direction, window) for all their adjacency
lists. The store is synchronous; a batch runs on the event loop when batches of
its kind and size have been cheap, else in a worker thread (serving.reads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from strawberry.dataloader import DataLoader

from fleetgraph.graph_model.records import EdgeRecord, NodeRecord
from fleetgraph.serving.reads import StoreReads, size_class
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

NeighbourKey = tuple[str, Direction, TimeWindow | None]
K = TypeVar("K")
V = TypeVar("V")


class SharedLoader(DataLoader[K, V]):
    """A DataLoader whose shared futures outlive a cancelled waiter: when a field fails,
    graphql-core cancels its siblings, and a cancelled await would cancel the future
    every other field loading the same key awaits (a CancelledError out of execute)."""

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(super().load(key))


class GraphLoaders:
    """The loaders of one request; create a new one per request (they cache)."""

    def __init__(self, store: GraphStore, reads: StoreReads | None = None) -> None:
        self._store = store
        self._reads = StoreReads() if reads is None else reads
        self.nodes: DataLoader[str, NodeRecord | None] = SharedLoader(load_fn=self._load_nodes)
        self._neighbours: dict[NeighbourKey, DataLoader[str, list[EdgeRecord]]] = {}

    def neighbours(
        self, edge_type: str, direction: Direction, window: TimeWindow | None
    ) -> DataLoader[str, list[EdgeRecord]]:
        """The loader of adjacency lists for one edge type, direction and window."""
        key = (edge_type, direction, window)
        loader = self._neighbours.get(key)
        if loader is None:
            loader = SharedLoader(load_fn=_NeighbourBatch(self._store, self._reads, *key))
            self._neighbours[key] = loader
        return loader

    async def _load_nodes(self, ids: list[str]) -> list[NodeRecord | None]:
        found = await self._reads.run(("get_nodes", size_class(len(ids))),
                                      self._store.get_nodes, ids, bounded=True)
        return [found.get(node_id) for node_id in ids]


class _NeighbourBatch:
    """The batch function of one neighbours loader."""

    def __init__(
        self,
        store: GraphStore,
        reads: StoreReads,
        edge_type: str,
        direction: Direction,
        window: TimeWindow | None,
    ) -> None:
        self._store = store
        self._reads = reads
        self._edge_type = edge_type
        self._direction = direction
        self._window = window

    async def __call__(self, ids: list[str]) -> list[list[EdgeRecord]]:
        kind = ("neighbours", self._edge_type, self._direction, self._window is None,
                size_class(len(ids)))
        found = await self._reads.run(kind, self._store.neighbours, self._edge_type, ids,
                                      self._direction, self._window, bounded=True)
        return [found.get(node_id, []) for node_id in ids]
