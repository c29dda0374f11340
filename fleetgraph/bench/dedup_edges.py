"""What the dedup mode costs and buys on the embedded path: freshness and writes.

    python -m fleetgraph.bench.dedup_edges --sites 8 --hours 24

Runs the embedded pipeline (SQLite in a temporary file) over a simulated fleet,
its messages in stream order as a live source would give them, once per dedup
mode (``trailing``, as before the leading edge, then ``leading``), at the same
window, then with the worker's dedup (``MappedDedup`` on the pipeline's clock,
its timer's tick and scan run at each event) once per ``--holds`` (``leading``
with the later updates held at most that long, ``hold=<s>``), and prints for each:

- freshness as far as dedup decides it, in event time (the pipeline's clock):
  for every update a source event made, from the watermark when dedup took it
  in to the watermark when dedup handed it on to be written, p50 and p99, and
  the share handed on at once (the embedded runner then waits for a full write
  batch, a bulk import's choice, left out here);
- store writes per source event (upserts written / events) and per update;
- the run's CPU time (``time.process_time``) and its ratio to trailing's.

With ``--stack`` it measures the same on the real stack instead (Kafka and
Cassandra running): :func:`fleetgraph.bench.freshness.run_window` (a worker and
a GraphQL server, a background stream, probes polled until visible) once per
mode, the modes alternating, ``--repeats`` times; with the graph records
(store upserts to be) per source event the worker's dedup let out (its last
progress line: ``flushed`` / ``received``) and the CPU time of the worker and
the server together (``RUSAGE_CHILDREN``).
"""

from __future__ import annotations

import os
import re
import resource
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from fleetgraph.bench import freshness, stack
from fleetgraph.bench.stack_ingest import fleet_messages
from fleetgraph.bench.stats import percentile, ratio
from fleetgraph.core.units import SECOND_US
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import Upsert
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.kafka.dedup import MappedDedup
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.stages.dedup import DEDUP_MODES, DedupBuffer, DedupMode
from fleetgraph.settings import IngestSettings, Settings
from fleetgraph.simulator.config import HOUR_US
from fleetgraph.storage.embedded import SQLiteGraphStore


class HeldDedup:
    """The worker's dedup (:class:`MappedDedup`, leading mode, updates held at most
    ``hold_us``) as the pipeline's stage, on its clock (event time): at each event,
    what the worker's short tick would take, and every ``SCAN_US`` a scan."""

    SCAN_US = SECOND_US

    def __init__(self, window_us: int, hold_us: int) -> None:
        self.now = 0
        self.inner = MappedDedup({}, window_us, clock=lambda: self.now, max_hold_us=hold_us)
        self.scanned = 0

    @property
    def collapsed(self) -> int:
        return self.inner.collapsed

    def add(self, upserts: Iterable[Upsert], now: int) -> list[Upsert]:
        self.now = now
        self.inner.take_in(0, upserts)
        scan = now - self.scanned >= self.SCAN_US
        if scan:
            self.scanned = now
        due = self.inner.take_due(now, scan=scan)
        self.inner.forget(due)
        return due.upserts

    def drain(self) -> list[Upsert]:
        return self.inner.drain()


class TimedDedup:
    """A DedupBuffer that notes, for each upsert it hands back, the watermarks at which
    the updates merged into it were taken in."""

    def __init__(self, inner: DedupBuffer | HeldDedup) -> None:
        self.inner = inner
        self.waiting: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self.hold_us: list[int] = []

    @property
    def collapsed(self) -> int:
        return self.inner.collapsed

    def _handed(self, due: list[Upsert], now: int) -> list[Upsert]:
        for upsert in due:
            self.hold_us.extend(now - t for t in self.waiting.pop(upsert.key, []))
        return due

    def add(self, upserts: Iterable[Upsert], now: int) -> list[Upsert]:
        upserts = list(upserts)
        for upsert in upserts:
            self.waiting[upsert.key].append(now)
        return self._handed(self.inner.add(upserts, now), now)

    def drain(self) -> list[Upsert]:
        return self._handed(self.inner.drain(), max(
            (t for times in self.waiting.values() for t in times), default=0))


def _seconds(samples_us: list[int], q: float) -> float:
    return round(percentile(samples_us, q) / SECOND_US, 3)


def run_mode(messages: list[Message], mode: DedupMode, window_s: float, clock_us: int,
             path: Path, hold_s: float | None = None) -> dict[str, Any]:
    """One run; with ``hold_s``, the worker's dedup holding later updates that long."""
    store = SQLiteGraphStore(FLEET, path)
    window_us = int(window_s * SECOND_US)
    dedup = TimedDedup(DedupBuffer(window_us, mode=mode) if hold_s is None
                       else HeldDedup(window_us, int(hold_s * SECOND_US)))
    pipeline = Pipeline.for_fleet(StoreSink(store), DeadLetterList(), clock=lambda: clock_us,
                                  dedup=dedup, ingest=IngestSettings(dedup_window_s=window_s))
    cpu = time.process_time()
    for message in messages:  # in stream order (the embedded runner reads inventory first)
        pipeline.process(message)
    pipeline.flush()
    cpu_s = time.process_time() - cpu
    store.close()
    events, stats, hold = len(messages), pipeline.stats, dedup.hold_us
    return {
        "mode": mode if hold_s is None else f"hold={hold_s:g}", "events": events,
        "updates": stats.upserts, "writes": stats.written,
        "writes_per_event": round(stats.written / events, 4),
        "writes_per_update": round(stats.written / stats.upserts, 4),
        "fresh_p50_s": _seconds(hold, 0.5), "fresh_p99_s": _seconds(hold, 0.99),
        "at_once": round(sum(1 for h in hold if h == 0) / len(hold), 4),
        "cpu_s": round(cpu_s, 3), "events_per_cpu_s": round(events / cpu_s),
    }


def run(sites: int, hours: float, window_s: float,
        holds: Sequence[float] = ()) -> list[dict[str, Any]]:
    end_us = (int(time.time()) // 60 * 60) * 1_000_000 - HOUR_US
    messages = [Message(topic, payload, f"bench:{i}")
                for i, (topic, payload) in enumerate(fleet_messages(sites, hours, end_us))]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("trailing", "leading"):
            assert mode in DEDUP_MODES
            results.append(run_mode(messages, mode, window_s, end_us,
                                    Path(tmp) / f"{mode}.sqlite"))
        for hold_s in holds:
            results.append(run_mode(messages, "leading", window_s, end_us,
                                    Path(tmp) / f"hold-{hold_s:g}.sqlite", hold_s))
    for result in results:
        result["cpu_ratio_to_trailing"] = ratio(result["cpu_s"], results[0]["cpu_s"])
        result["writes_ratio_to_trailing"] = ratio(result["writes"], results[0]["writes"])
    return results


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _progress(log: Path) -> dict[str, int]:
    """The worker's last ``fleetgraph progress`` figures."""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if "fleetgraph progress" in line]
    if not lines:
        return {}
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


def run_stack(settings: Settings, window_s: float, repeats: int, duration_s: float,
              rate: float) -> list[dict[str, Any]]:
    """Freshness on the real stack per mode (alternating), ``repeats`` times each."""
    end_us = (int(time.time()) // 60 * 60) * 1_000_000 - HOUR_US
    own = stack.private(settings, "edges")
    background = fleet_messages(8, 24.0, end_us)
    results: list[dict[str, Any]] = []
    saved = os.environ.get("FLEETGRAPH_DEDUP_MODE")
    try:
        with tempfile.TemporaryDirectory() as tmp, stack.keyspaces(own):
            for i in range(repeats * 2):
                mode = DEDUP_MODES[(i + 1) % 2]  # trailing first
                os.environ["FLEETGRAPH_DEDUP_MODE"] = mode  # the worker's environment
                run_settings = own.updated(kafka={
                    "topic_prefix": f"{own.kafka.topic_prefix}{i}.",
                    "consumer_group": f"{own.kafka.consumer_group}-{i}"})
                work = Path(tmp) / str(i)
                work.mkdir()
                click.echo(f"[dedup edges] {mode}, run {i // 2 + 1} ...", err=True)
                cpu = _children_cpu_s()
                try:
                    figures = freshness.run_window(run_settings, window_s, background, rate,
                                                   duration_s, 0.25, work)
                except RuntimeError as exc:  # a benchmark reports, it does not stop
                    results.append({"mode": mode, "error": str(exc).splitlines()[0][:300]})
                    click.echo(f"[dedup edges] {mode} failed: {results[-1]['error']}", err=True)
                    continue
                progress = next((_progress(log) for log in work.glob("worker-*.log")), {})
                received = progress.get("received", 0)
                flushed = progress.get("flushed", 0)  # graph records the dedup let out
                results.append({
                    "mode": mode, **{k: figures[k] for k in (
                        "probes", "lost", "background_rate", "p50_ms", "p99_ms", "max_ms")},
                    "worker_received": received, "graph_records": flushed,
                    "writes_per_event": round(flushed / received, 4) if received else None,
                    "worker_and_server_cpu_s": round(_children_cpu_s() - cpu, 2)})
                click.echo(" ".join(f"{k}={v}" for k, v in results[-1].items()), err=True)
    finally:
        if saved is None:
            os.environ.pop("FLEETGRAPH_DEDUP_MODE", None)
        else:
            os.environ["FLEETGRAPH_DEDUP_MODE"] = saved
    return results


@click.command()
@click.option("--sites", default=8, show_default=True)
@click.option("--hours", default=24.0, show_default=True)
@click.option("--window", "window_s", default=IngestSettings().dedup_window_s,
              show_default=True, help="The dedup window, seconds.")
@click.option("--holds", default="", show_default=True,
              help="Comma-separated holds, seconds: the worker's dedup holding later updates "
                   "at most that long (embedded runs).")
@click.option("--stack", "on_stack", is_flag=True, help="On the real stack (Kafka, Cassandra).")
@click.option("--repeats", default=2, show_default=True, help="Runs per mode (--stack).")
@click.option("--duration", "duration_s", default=40.0, show_default=True,
              help="Seconds of probes per run (--stack).")
@click.option("--rate", default=500.0, show_default=True,
              help="Background messages per second (--stack).")
def main(sites: int, hours: float, window_s: float, holds: str, on_stack: bool, repeats: int,
         duration_s: float, rate: float) -> None:
    """Freshness and writes per event of both dedup modes."""
    if on_stack:
        results = run_stack(Settings.from_environ(), window_s, repeats, duration_s, rate)
    else:
        results = run(sites, hours, window_s, [float(h) for h in holds.split(",") if h])
    for result in results:
        click.echo(" ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
