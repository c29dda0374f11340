"""A GraphStore that times its calls for Prometheus: reads and writes by operation (and
adjacency reads by edge type), rows written, errors by kind, and the freshness of what
is written (its event time to the moment the store has it).

The server wraps its store in one (serving.metrics), and so do the workers' sinks and
the embedded ingest (ingest.metrics). The metrics live in a registry passed in, never
the process-wide default, so two stores (or two tests) never share counts. Label
values come from the graph model (edge types) and from a fixed list (operations,
error kinds): an edge type the registry does not declare is counted as ``other``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.core.units import SECOND_US
from fleetgraph.graph_model.records import EdgeRecord, EdgeUpsert, NodeRecord, NodeUpsert
from fleetgraph.storage.base import (
    Direction,
    GraphStore,
    Page,
    StorageUnavailable,
    TimeWindow,
)
from fleetgraph.storage.delegating import DelegatingStore

T = TypeVar("T")

# store calls: from a cached embedded read (tens of µs) to a slow Cassandra batch
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# event time to stored: a dedup window (seconds) to a replayed backlog (hours)
FRESHNESS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 900.0,
                     3600.0, 6 * 3600.0, 24 * 3600.0)
OPERATIONS = ("get_nodes", "neighbours", "scan_nodes", "upsert_nodes", "upsert_edges",
              "count", "expire")
OTHER = "other"


class BatchHistogram(Collector):
    """A histogram fed a batch of values at a time: the buckets found by bisection and
    added under one lock (prometheus_client's ``observe`` takes 3 µs a value, which a
    write batch of 5,000 upserts would pay 5,000 times)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = list(buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound
        self.sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, values: Iterable[float]) -> None:
        counts = [0] * len(self.counts)
        total = 0.0
        bounds = self.bounds
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1
            total += value
        with self._lock:
            for i, n in enumerate(counts):
                self.counts[i] += n
            self.sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self.counts), self.sum
        cumulative, buckets = 0, []
        for bound, n in zip([*map(str, self.bounds), "+Inf"], counts, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], buckets, total)
        yield family


class StoreMetrics:
    """The store's metrics, in ``registry``; ``edge_types`` are the label values
    allowed for adjacency reads (the registry's edge types)."""

    def __init__(self, registry: CollectorRegistry, edge_types: Iterable[str]) -> None:
        self.edge_types = frozenset(edge_types)
        self.seconds = Histogram(
            "fleetgraph_store_seconds",
            "Seconds a store call took, by operation and (adjacency reads) edge type",
            ["operation", "edge_type"], buckets=STORE_BUCKETS, registry=registry)
        self.rows = Counter(
            "fleetgraph_store_rows",
            "Rows written (upserts) or read (nodes, adjacency lists), by operation",
            ["operation"], registry=registry)
        self.errors = Counter(
            "fleetgraph_store_errors",
            "Store calls that failed, by operation and kind (unavailable: out of reach; "
            "refused: any other error)", ["operation", "kind"], registry=registry)
        self.freshness = BatchHistogram(
            "fleetgraph_ingest_freshness_seconds",
            "Seconds from an update's event time to the moment the store has it",
            FRESHNESS_BUCKETS)
        registry.register(self.freshness)
        self._timers: dict[tuple[str, str], Histogram] = {}  # made when first used
        self._rows = {op: self.rows.labels(op) for op in OPERATIONS}

    def edge_label(self, edge_type: str) -> str:
        return edge_type if edge_type in self.edge_types else OTHER

    def timed(self, operation: str, label: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return call()
        except StorageUnavailable:
            self.errors.labels(operation, "unavailable").inc()
            raise
        except Exception:
            self.errors.labels(operation, "refused").inc()
            raise
        finally:
            took = time.perf_counter() - started
            timer = self._timers.get((operation, label))
            if timer is None:
                timer = self._timers[operation, label] = self.seconds.labels(operation, label)
            timer.observe(took)

    def rows_of(self, operation: str, n: int) -> None:
        self._rows[operation].inc(n)


class MeteredStore(DelegatingStore):
    """Delegates to ``inner``, timing reads and writes into ``metrics``; after each
    successful write, the freshness of its upserts (``clock``: now, µs)."""

    def __init__(self, inner: GraphStore, metrics: StoreMetrics, *,
                 clock: Callable[[], int] = wall_clock_us) -> None:
        super().__init__(inner)
        self.metrics = metrics
        self.clock = clock

    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        self.metrics.timed("upsert_nodes", "", lambda: self.inner.upsert_nodes(nodes))
        self._written("upsert_nodes", nodes)

    def upsert_edges(self, edges: Sequence[EdgeUpsert]) -> None:
        self.metrics.timed("upsert_edges", "", lambda: self.inner.upsert_edges(edges))
        self._written("upsert_edges", edges)

    def _written(self, operation: str, upserts: Sequence[NodeUpsert] | Sequence[EdgeUpsert]
                 ) -> None:
        self.metrics.rows_of(operation, len(upserts))
        now = self.clock()
        self.metrics.freshness.observe_many((now - u.ts) / SECOND_US for u in upserts)

    def get_nodes(self, ids: Sequence[str]) -> dict[str, NodeRecord]:
        found = self.metrics.timed("get_nodes", "", lambda: self.inner.get_nodes(ids))
        self.metrics.rows_of("get_nodes", len(found))
        return found

    def neighbours(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        window: TimeWindow | None = None,
    ) -> dict[str, list[EdgeRecord]]:
        label = self.metrics.edge_label(edge_type)
        found = self.metrics.timed(
            "neighbours", label, lambda: self.inner.neighbours(edge_type, ids, direction, window))
        self.metrics.rows_of("neighbours", len(found))
        return found

    def scan_nodes(self, node_type: str, after: str | None, limit: int) -> Page:
        page = self.metrics.timed("scan_nodes", "",
                                  lambda: self.inner.scan_nodes(node_type, after, limit))
        self.metrics.rows_of("scan_nodes", len(page.records))
        return page

    def count(self, namespace: str) -> int:
        return self.metrics.timed("count", "", lambda: self.inner.count(namespace))

    def expire(self, now_us: int) -> int:
        return self.metrics.timed("expire", "", lambda: self.inner.expire(now_us))
