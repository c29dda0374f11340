"""A worker's Prometheus metrics, served on its own port (``FLEETGRAPH_METRICS_PORT``,
``fleetgraph worker --metrics-port``; 0: none).

- the ingest series of :mod:`fleetgraph.ingest.metrics`, read from the worker's four
  pipelines, its dead letters (processing and sink) and its sink's counters;
- the store's (:mod:`fleetgraph.storage.metered`): the sink's store is wrapped in a
  MeteredStore, so write latency, rows and freshness are those of real writes;
- ``fleetgraph_consumer_lag{group, topic, partition}``: records on the broker that
  the worker has not yet processed, per assigned partition, refreshed every
  ``LAG_EVERY_S`` on the worker's event loop: source partitions by Faust's consumer
  (the end offset less the committed offset), graph partitions by the sink's
  aiokafka consumer (the end offset, its ``highwater``, less its position);
- ``fleetgraph_sink_retries_total`` and ``fleetgraph_sink_reconnects_total``: store
  writes tried again (an outage or a refusal) and store connections rebuilt.

Label values are topic names (the prefix and the fixed topics) and partition numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.kafka.agents import Processing
from fleetgraph.ingest.kafka.store_side import StoreSide
from fleetgraph.ingest.metrics import IngestCollector
from fleetgraph.ingest.pipeline import PipelineStats
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.metered import MeteredStore, StoreMetrics

log = logging.getLogger(__name__)
LAG_EVERY_S = 5.0
SOURCE, STORE = "process", "store"  # the consumers' roles, as the group label


class SinkCounters(Collector):
    """The sink writer's retry and reconnect counters, read at each scrape."""

    def __init__(self, writers: Callable[[], Iterable[Any]]) -> None:
        self.writers = writers

    def collect(self) -> Iterator[CounterMetricFamily]:
        writers = list(self.writers())
        if not writers:
            return
        retries = CounterMetricFamily("fleetgraph_sink_retries",
                                      "Store writes of the sink tried again")
        retries.add_metric([], sum(w.retries for w in writers))
        reconnects = CounterMetricFamily("fleetgraph_sink_reconnects",
                                         "Store connections the sink rebuilt")
        reconnects.add_metric([], sum(w.reconnects for w in writers))
        yield retries
        yield reconnects


class WorkerMetrics:
    """A worker's registry and what feeds it; :meth:`serve` starts the HTTP server."""

    def __init__(self, registry: Registry) -> None:
        self.prometheus = CollectorRegistry()
        self.ingest = IngestCollector(self.prometheus)
        self.store = StoreMetrics(self.prometheus, registry.edges)
        ProcessCollector(registry=self.prometheus)  # CPU, memory, open files
        self.lag = Gauge("fleetgraph_consumer_lag",
                         "Records on the broker not yet processed, per assigned partition",
                         ["group", "topic", "partition"], registry=self.prometheus)
        self._writers: list[Any] = []
        self.prometheus.register(SinkCounters(lambda: self._writers))
        self.server: Any = None

    def metered(self, store_factory: Callable[[], GraphStore]) -> Callable[[], GraphStore]:
        """``store_factory`` whose stores are timed into this registry."""

        def factory() -> GraphStore:
            return MeteredStore(store_factory(), self.store)

        return factory

    def watch_processing(self, pipelines: Callable[[], Iterable[PipelineStats]],
                         dead_letters: Any) -> None:
        self.ingest.watch_pipelines(pipelines)
        self.ingest.watch_dead_letters(dead_letters)

    def watch_writer(self, writer: Any) -> None:
        """A sink's GraphStoreWriter: its counts, dead letters, retries."""
        self.ingest.watch_sink(lambda: (writer.records, writer.written))
        self.ingest.watch_dead_letters(writer.dead_letters)
        self._writers.append(writer)

    def set_lag(self, role: str, lags: Iterable[tuple[str, int, int]]) -> None:
        """Replace ``role``'s partitions' lag by ``lags``: (topic, partition, records)."""
        fresh = {(topic, str(partition)): max(0, n) for topic, partition, n in lags}
        for labels in list(self._lag_labels(role)):
            if labels[1:] not in fresh:
                self.lag.remove(*labels)
        for (topic, partition), n in fresh.items():
            self.lag.labels(role, topic, partition).set(n)

    def _lag_labels(self, role: str) -> Iterator[tuple[str, str, str]]:
        for metric in self.lag.collect():
            for sample in metric.samples:
                if sample.labels["group"] == role:
                    yield (role, sample.labels["topic"], sample.labels["partition"])

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve /metrics on ``port`` from a daemon thread (it stops with the process)."""
        self.server = start_http_server(port, addr=host, registry=self.prometheus)
        log.info("worker metrics on http://%s:%d/metrics", host, port)


def source_lag(states: Iterable[Any]) -> list[tuple[str, int, int]]:
    """(topic, partition, end - committed) of the stall guard's partition states."""
    return [(s.tp.topic, s.tp.partition, s.end - (s.committed or 0))
            for s in states if s.end is not None]


async def store_lag(consumer: Any) -> list[tuple[str, int, int]]:
    """(topic, partition, highwater - position) of an aiokafka consumer's partitions."""
    lags = []
    for tp in consumer.assignment():
        end = consumer.highwater(tp)
        if end is None:
            continue
        lags.append((tp.topic, tp.partition, end - await consumer.position(tp)))
    return lags


async def refresh_lag(metrics: WorkerMetrics, processing: Processing | None,
                      store: StoreSide | None, *, rebalancing: bool = False) -> None:
    """Read every assigned partition's lag into ``metrics`` (a failure is logged: the
    metrics never stop a worker)."""
    try:
        if processing is not None and not rebalancing:
            metrics.set_lag(SOURCE, source_lag(processing.guard.guard.states()))
        if store is not None:
            consumer = store.consumer
            metrics.set_lag(STORE, [] if consumer is None else await store_lag(consumer))
    except Exception:
        log.warning("could not read the consumers' lag", exc_info=True)


def add_worker_metrics(app: Any, metrics: WorkerMetrics, processing: Processing | None,
                       store: StoreSide | None) -> None:
    """Feed ``metrics`` from a Faust worker's processing and sink; lag on a timer."""
    if processing is not None:
        processors = processing.processors
        metrics.watch_processing(lambda: [p.stats for p in processors.pipelines.values()],
                                 processors.dead_letters)
    if store is not None:
        metrics.watch_writer(store.writer)

    async def lag() -> None:
        await refresh_lag(metrics, processing, store, rebalancing=bool(app.rebalancing))

    app.timer(LAG_EVERY_S, name="fleetgraph.metrics.lag")(lag)


async def refresh_lag_every(metrics: WorkerMetrics, store: StoreSide) -> None:
    """A sink worker's (no Faust app, no timers): the store consumer's lag, until
    cancelled."""
    while True:
        await asyncio.sleep(LAG_EVERY_S)
        await refresh_lag(metrics, None, store)
