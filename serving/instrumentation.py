"""A GraphStore proxy that counts reads, to check that a query costs one read per hop."""

from __future__ import annotations

import threading
from collections import Counter

from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.delegating import DelegatingStore


class CountingStore(DelegatingStore):
    """Delegates to ``inner``; ``calls`` counts calls per method, ``log`` keeps reads."""

    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner)
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[str, tuple[object, ...]]] = []
        self._lock = threading.Lock()  # loaders call from worker threads

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.log.clear()

    def before(self, method: str, *details: object) -> None:
        with self._lock:
            self.calls[method] += 1
            self.log.append((method, details))
