"""A GraphStore that forwards every call to another, with one hook before each: the
base of the serving layer's proxies (read counting, request deadlines)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from fleetgraph.graph_model.records import EdgeRecord, EdgeUpsert, NodeRecord, NodeUpsert
from fleetgraph.storage.base import Direction, GraphStore, Layout, Page, TimeWindow


class DelegatingStore(GraphStore):
    """Forwards to ``inner``; ``before(method, *details)`` runs first (does nothing here)."""

    def __init__(self, inner: GraphStore) -> None:
        self.inner = inner

    def before(self, method: str, *details: object) -> None:
        """Called before each forwarded call except ``close``."""

    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        self.before("upsert_nodes", len(nodes))
        self.inner.upsert_nodes(nodes)

    def upsert_edges(self, edges: Sequence[EdgeUpsert]) -> None:
        self.before("upsert_edges", len(edges))
        self.inner.upsert_edges(edges)

    def get_nodes(self, ids: Sequence[str]) -> dict[str, NodeRecord]:
        self.before("get_nodes", len(ids))
        return self.inner.get_nodes(ids)

    def neighbours(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        window: TimeWindow | None = None,
    ) -> dict[str, list[EdgeRecord]]:
        self.before("neighbours", edge_type, direction.value, len(ids), window)
        return self.inner.neighbours(edge_type, ids, direction, window)

    def neighbour_ids(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        *,
        recorded_by: int | None = None,
        window: TimeWindow | None = None,
    ) -> dict[str, list[str]]:
        self.before("neighbour_ids", edge_type, direction.value, len(ids), recorded_by, window)
        return self.inner.neighbour_ids(edge_type, ids, direction, recorded_by=recorded_by,
                                        window=window)

    def run_reads(self, reads: Sequence[Callable[[], Any]]) -> list[Any]:
        # the reads call this store's methods (each with its hook), run as ``inner`` can
        return self.inner.run_reads(reads)

    def node_values(self, ids: Sequence[str], prop: str) -> dict[str, Any]:
        self.before("node_values", len(ids), prop)
        return self.inner.node_values(ids, prop)

    def scan_nodes(self, node_type: str, after: str | None, limit: int) -> Page:
        self.before("scan_nodes", node_type, after, limit)
        return self.inner.scan_nodes(node_type, after, limit)

    def init_schema(self) -> list[str]:
        self.before("init_schema")
        return self.inner.init_schema()

    def count(self, namespace: str) -> int:
        self.before("count", namespace)
        return self.inner.count(namespace)

    def window_reads_follow_the_window(self) -> bool:
        return self.inner.window_reads_follow_the_window()

    def describe(self) -> Layout:
        self.before("describe")
        return self.inner.describe()

    def expire(self, now_us: int) -> int:
        self.before("expire")
        return self.inner.expire(now_us)

    def dump(self) -> Iterator[tuple[str, tuple[object, ...]]]:
        self.before("dump")
        return self.inner.dump()

    def close(self) -> None:
        self.inner.close()

    def reindex(self) -> dict[str, int]:
        self.before("reindex")
        return self.inner.reindex()

    def put_read_models(self, model: str, rows: Mapping[str, str | None]) -> None:
        self.before("put_read_models", model, len(rows))
        self.inner.put_read_models(model, rows)

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        self.before("get_read_models", model, None if keys is None else len(keys))
        return self.inner.get_read_models(model, keys)
