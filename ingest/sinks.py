"""Stage 7, emit: where the deduplicated upserts go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Upsert
from fleetgraph.storage.base import GraphStore


class GraphSink(Protocol):
    def write(self, upserts: Sequence[Upsert]) -> None: ...


class StoreSink:
    """Writes upserts to a GraphStore, nodes and edges in one batch each."""

    def __init__(self, store: GraphStore) -> None:
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
