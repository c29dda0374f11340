"""A GraphStore proxy that counts reads, to check that a query costs one read per hop."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence

from graph_model.records import EdgeRecord, EdgeUpsert, NodeRecord, NodeUpsert
from storage.base import Direction, GraphStore, Page, TimeWindow


class CountingStore(GraphStore):
    """Delegates to ``inner``; ``calls`` counts calls per method, ``log`` keeps reads."""

    def __init__(self, inner: GraphStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[str, tuple[object, ...]]] = []
        self._lock = threading.Lock()  # loaders call from worker threads

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.log.clear()

    def _count(self, method: str, *details: object) -> None:
        with self._lock:
            self.calls[method] += 1
            self.log.append((method, details))

    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        self._count("upsert_nodes", len(nodes))
        self.inner.upsert_nodes(nodes)

    def upsert_edges(self, edges: Sequence[EdgeUpsert]) -> None:
        self._count("upsert_edges", len(edges))
        self.inner.upsert_edges(edges)

    def get_nodes(self, ids: Sequence[str]) -> dict[str, NodeRecord]:
        self._count("get_nodes", len(ids))
        return self.inner.get_nodes(ids)

    def neighbours(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        window: TimeWindow | None = None,
    ) -> dict[str, list[EdgeRecord]]:
        self._count("neighbours", edge_type, direction.value, len(ids), window)
        return self.inner.neighbours(edge_type, ids, direction, window)

    def scan_nodes(self, node_type: str, after: str | None, limit: int) -> Page:
        self._count("scan_nodes", node_type, after, limit)
        return self.inner.scan_nodes(node_type, after, limit)

    def expire(self, now_us: int) -> int:
        self._count("expire")
        return self.inner.expire(now_us)

    def dump(self) -> Iterator[tuple[str, tuple[object, ...]]]:
        self._count("dump")
        return self.inner.dump()

    def close(self) -> None:
        self.inner.close()
