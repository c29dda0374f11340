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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
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
OPERATIONS = ("get_nodes", "neighbours", "scan_nodes", "get_read_models", "put_read_models",
              "upsert_nodes", "upsert_edges", "count", "expire")
OTHER = "other"


class Histograms(Collector):
    """Histograms by label values, fed under one lock: the bucket found by bisection
    (prometheus_client's ``observe`` takes about 3 µs a value; this about 0.5 µs, which
    a store read on the event loop and a write batch of 5,000 upserts both notice)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float],
                 labels: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = list(labels)
        self.bounds = list(buckets)
        # per label values: a count per bucket (the last: above every bound), then the sum
        self.series: dict[tuple[str, ...], list[float]] = {}
        self._lock = threading.Lock()

    def _new(self) -> list[float]:
        return [0] * (len(self.bounds) + 1) + [0.0]

    def observe(self, key: tuple[str, ...], value: float) -> None:
        i = bisect.bisect_left(self.bounds, value)
        with self._lock:
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = self._new()
            series[i] += 1
            series[-1] += value

    def observe_many(self, values: Iterable[float], key: tuple[str, ...] = ()) -> None:
        counts = self._new()
        bounds = self.bounds
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1
            counts[-1] += value
        with self._lock:
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = self._new()
            for i, n in enumerate(counts):
                series[i] += n

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            copied = {key: list(series) for key, series in self.series.items()}
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, series in sorted(copied.items()):
            cumulative, buckets = 0.0, []
            for bound, n in zip([*map(str, self.bounds), "+Inf"], series[:-1], strict=True):
                cumulative += n
                buckets.append((bound, cumulative))
            family.add_metric(list(key), buckets, series[-1])
        yield family


class Tally(Collector):
    """A counter by label values, added to under one lock."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = list(labels)
        self.counts: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def add(self, key: tuple[str, ...], n: float) -> None:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            copied = dict(self.counts)
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, n in sorted(copied.items()):
            family.add_metric(list(key), n)
        yield family


class StoreMetrics:
    """The store's metrics, in ``registry``; ``edge_types`` are the label values
    allowed for adjacency reads (the registry's edge types)."""

    def __init__(self, registry: CollectorRegistry, edge_types: Iterable[str]) -> None:
        self.edge_types = frozenset(edge_types)
        self.seconds = Histograms(
            "fleetgraph_store_seconds",
            "Seconds a store call took, by operation and (adjacency reads) edge type",
            STORE_BUCKETS, ["operation", "edge_type"])
        self.rows = Tally(
            "fleetgraph_store_rows",
            "Rows written (upserts) or read (nodes, adjacency lists), by operation",
            ["operation"])
        self.errors = Counter(
            "fleetgraph_store_errors",
            "Store calls that failed, by operation and kind (unavailable: out of reach; "
            "refused: any other error)", ["operation", "kind"], registry=registry)
        self.freshness = Histograms(
            "fleetgraph_ingest_freshness_seconds",
            "Seconds from an update's event time to the moment the store has it",
            FRESHNESS_BUCKETS)
        for collector in (self.seconds, self.rows, self.freshness):
            registry.register(collector)

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
            self.seconds.observe((operation, label), time.perf_counter() - started)

    def rows_of(self, operation: str, n: int) -> None:
        self.rows.add((operation,), n)


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

    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        rows = self.metrics.timed("get_read_models", "",
                                  lambda: self.inner.get_read_models(model, keys))
        self.metrics.rows_of("get_read_models", len(rows))
        return rows

    def put_read_models(self, model: str, rows: Mapping[str, str | None]) -> None:
        self.metrics.timed("put_read_models", "",
                           lambda: self.inner.put_read_models(model, rows))
        self.metrics.rows_of("put_read_models", len(rows))

    def count(self, namespace: str) -> int:
        return self.metrics.timed("count", "", lambda: self.inner.count(namespace))

    def expire(self, now_us: int) -> int:
        return self.metrics.timed("expire", "", lambda: self.inner.expire(now_us))
