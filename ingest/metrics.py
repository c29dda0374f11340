"""Ingest's Prometheus metrics, read from the counters the pipeline already keeps.

A :class:`IngestCollector` holds no count of its own: at each scrape it sums the
:class:`~fleetgraph.ingest.pipeline.PipelineStats` of the pipelines it watches (the
same figures as the end-of-run reports), the counts of the dead letters it watches
(``DeadLetters.counts``: every dead letter, whichever stage refused it) and the
sink's counters, so nothing is counted twice and the metrics cannot drift from the
reports. The store's own metrics (write latency, rows, freshness) come from a
:class:`~fleetgraph.storage.metered.MeteredStore` around the sink's store.

Series (docs/operations.md):

- ``fleetgraph_ingest_events_total{stage, outcome}``: stage ``process`` (outcomes
  ``received``, ``accepted``, ``filtered``, ``dead_lettered``: a received event is
  exactly one of the last three) and stage ``store`` (``read``: graph records read by
  a worker's sink, ``stored``: upserts written);
- ``fleetgraph_ingest_filtered_total{reason}``: noise filtered out, by reason;
- ``fleetgraph_dead_letters_total{reason}``: dead letters by reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from fleetgraph.ingest.pipeline import PipelineStats

REASON = re.compile(r"[a-z][a-z0-9_]{0,47}")  # the reason codes' shape (ingest/errors.py)


class Counted(Protocol):
    """Anything that counts by reason: DeadLetters."""

    counts: Counter[str]


def _reason(code: str) -> str:
    return code if REASON.fullmatch(code) else "other"


def _copied(counter: Counter[str]) -> Counter[str]:
    """A copy of a counter another thread may be adding to (a scrape runs in the
    metrics server's thread): tried again if it changed size while being copied."""
    for _ in range(5):
        try:
            return Counter(dict(counter))
        except RuntimeError:
            continue
    return Counter()


class IngestCollector(Collector):
    """Reads the watched pipelines, dead letters and sinks at each scrape."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._stats: list[Callable[[], Iterable[PipelineStats]]] = []
        self._dead_letters: list[Counted] = []
        self._sinks: list[Callable[[], tuple[int, int]]] = []
        if registry is not None:
            registry.register(self)

    def watch_pipelines(self, stats: Callable[[], Iterable[PipelineStats]]) -> None:
        """``stats()``: the current stats of some pipelines (read at each scrape)."""
        self._stats.append(stats)

    def watch_dead_letters(self, dead_letters: Counted) -> None:
        self._dead_letters.append(dead_letters)

    def watch_sink(self, counts: Callable[[], tuple[int, int]]) -> None:
        """``counts()``: (graph records read, upserts stored) of a worker's sink."""
        self._sinks.append(counts)

    def collect(self) -> Iterator[CounterMetricFamily]:
        events = CounterMetricFamily(
            "fleetgraph_ingest_events", "Events through ingest, by stage and outcome",
            labels=["stage", "outcome"])
        filtered_by = CounterMetricFamily(
            "fleetgraph_ingest_filtered", "Events filtered out as noise, by reason",
            labels=["reason"])
        dead_by = CounterMetricFamily(
            "fleetgraph_dead_letters", "Events and records sent to the dead letters, by reason",
            labels=["reason"])
        process: Counter[str] = Counter()
        filtered: Counter[str] = Counter()
        for stats in self._stats:
            for s in stats():
                reasons = _copied(s.filtered)
                process.update(received=s.received, accepted=s.accepted,
                               filtered=sum(reasons.values()),
                               dead_lettered=sum(_copied(s.rejected).values()))
                filtered.update(reasons)
        if self._stats:
            for outcome in ("received", "accepted", "filtered", "dead_lettered"):
                events.add_metric(["process", outcome], process[outcome])
        if self._sinks:
            read = stored = 0
            for counts in self._sinks:
                r, w = counts()
                read, stored = read + r, stored + w
            events.add_metric(["store", "read"], read)
            events.add_metric(["store", "stored"], stored)
        for reason, n in _labelled(filtered):
            filtered_by.add_metric([reason], n)
        dead: Counter[str] = Counter()
        for dead_letters in self._dead_letters:
            dead.update(_copied(dead_letters.counts))
        for reason, n in _labelled(dead):
            dead_by.add_metric([reason], n)
        yield events
        yield filtered_by
        yield dead_by


def _labelled(counts: Counter[str]) -> list[tuple[str, int]]:
    out: Counter[str] = Counter()
    for code, n in counts.items():
        out[_reason(code)] += n
    return sorted(out.items())
