"""Stage 7, emit: where the deduplicated upserts go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Upsert


class GraphSink(Protocol):
    def write(self, upserts: Sequence[Upsert]) -> None:
        """Write a batch; StorageUnavailable when the store is out of reach (the run
        stops), any other error a refusal of the batch (the pipeline splits it)."""
        ...


class GraphWriter(Protocol):
    """The write side of a ``GraphStore``: what a StoreSink writes to."""

    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None: ...

    def upsert_edges(self, edges: Sequence[EdgeUpsert]) -> None: ...

    def close(self) -> None: ...


class StoreSink:
    """Writes upserts to a GraphStore, nodes and edges in one batch each."""

    def __init__(self, store: GraphWriter) -> None:
        self.store = store
        self.nodes_written = 0
        self.edges_written = 0

    def write(self, upserts: Sequence[Upsert]) -> None:
        nodes = [u for u in upserts if isinstance(u, NodeUpsert)]
        edges = [u for u in upserts if isinstance(u, EdgeUpsert)]
        if nodes:
            self.store.upsert_nodes(nodes)
        if edges:
            self.store.upsert_edges(edges)
        self.nodes_written += len(nodes)
        self.edges_written += len(edges)
