"""Running a Faust worker in-process: ``run_worker``; as a process it is
``fleetgraph worker`` (fleetgraph/cli/worker.py).

The worker creates missing topics, builds the app for its role, adds the
agents and runs ``faust.Worker(app).execute_from_commandline()`` until SIGINT
or SIGTERM, or, with ``exit_when_idle_s``, until it has had nothing to do for
that long after getting partitions (for batch runs, tests and benchmarks).

Every ``ingest.malloc_trim_s`` seconds the worker gives the C heap's free pages
back to the system (:mod:`fleetgraph.ingest.kafka.heap`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust

from fleetgraph.core.logs import configure_logging, logging_config
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.kafka.activity import Activity
from fleetgraph.ingest.kafka.agents import Processing, add_processing
from fleetgraph.ingest.kafka.app import ROLES, app_id, create_app
from fleetgraph.ingest.kafka.dedup_table import DEDUP_TABLE
from fleetgraph.ingest.kafka.heap import heap_trimmer
from fleetgraph.ingest.kafka.metrics import WorkerMetrics, add_worker_metrics
from fleetgraph.ingest.kafka.offsets import commit_start_offsets
from fleetgraph.ingest.kafka.sink_worker import run_sink_worker
from fleetgraph.ingest.kafka.store_consumer import assignment_summary
from fleetgraph.ingest.kafka.store_side import StoreSide, add_store_sink
from fleetgraph.ingest.kafka.store_writer import GraphStoreWriter, StoreRetry
from fleetgraph.ingest.kafka.topics import (
    DEFAULT_PARTITIONS,
    TopicNames,
    create_topics,
    ensure_topics,
    fewest_copies,
    state_copies,
)
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.factory import open_store

log = logging.getLogger("fleetgraph.worker")
REPORT_EVERY_S = 10.0


@dataclass
class WorkerReport:
    """What one worker did, from start to stop."""

    role: str
    processed: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    graph_records_read: int = 0
    upserts_stored: int = 0
    first_event_at: float | None = None  # wall time of the first source message processed
    last_stored_at: float | None = None  # wall time of the last store write
    busy_cpu_s: float | None = None  # this process's CPU seconds between the two

    @property
    def busy_s(self) -> float | None:
        """First source message processed -> last store write (role "all")."""
        if self.first_event_at is None or self.last_stored_at is None:
            return None
        return self.last_stored_at - self.first_event_at

    @property
    def events_per_second(self) -> float | None:
        received = self.processed.get("received", 0)
        return received / self.busy_s if received and self.busy_s else None


def run_worker(
    settings: Settings,
    store_factory: Callable[[], GraphStore],
    *,
    role: str = "all",
    partitions: int = DEFAULT_PARTITIONS,
    web_port: int | None = None,
    loglevel: str = "info",
    exit_when_idle_s: float | None = None,
    registry: Registry = FLEET,
) -> WorkerReport:
    """Run one worker of ``role`` ("all", "process" or "sink") until stopped.

    ``store_factory`` makes the sink's GraphStore (called once, in the sink role).
    ``partitions`` applies to topics this call creates; existing topics keep theirs.
    ``web_port`` starts Faust's web server on that port (None: no web server).
    Blocks; returns a report when the worker stops.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    names = TopicNames(settings.kafka.topic_prefix)
    partitions = ensure_topics(settings.kafka.bootstrap, names, registry, partitions,
                               replication_factor=settings.kafka.replication_factor,
                               min_insync_replicas=settings.kafka.min_insync_replicas)
    if role in ("all", "process"):
        asyncio.run(make_dedup_changelog(
            settings, names, f"{app_id(settings, role)}-{DEDUP_TABLE}-changelog", partitions))
    metrics = None  # Prometheus /metrics on settings.ingest.metrics_port (0: none)
    if settings.ingest.metrics_port:
        metrics = WorkerMetrics(registry)
        store_factory = metrics.metered(store_factory)
        metrics.serve(settings.ingest.metrics_port, settings.server.host)
    if role == "sink":  # the store side alone: nothing for Faust to run
        _logging(loglevel, settings)
        side, activity = run_sink_worker(settings, names, registry, store_factory,
                                         exit_when_idle_s=exit_when_idle_s, metrics=metrics)
        side.writer.close()
        if side.writer.failure is not None:
            raise side.writer.failure
        return _finish(_report(role, None, side.writer), activity)
    asyncio.run(commit_start_offsets(settings.kafka.bootstrap, app_id(settings, role),
                                     names.sources, partitions))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = create_app(settings, role=role, partitions=partitions, web_port=web_port)
    activity = Activity()
    processing = store = None
    if role in ("all", "process"):
        processing = add_processing(app, settings, names, registry, load_event_codec(),
                                    activity, partitions=partitions)
    if role == "all":
        store = add_store_sink(app, settings, names, registry, store_factory, activity,
                               batch_size=settings.ingest.batch_size,
                               retry=StoreRetry.from_settings(settings))
    writer = store.writer if store is not None else None
    _log_assignments(app, activity)
    _report_every(app, processing, writer)
    _trim_heap_every(app, settings.ingest.malloc_trim_s)
    if metrics is not None:
        add_worker_metrics(app, metrics, processing, store)
    json_logs = logging_config("json", loglevel) if settings.log_format == "json" else None
    worker = faust_worker(app, loop, loglevel, json_logs)
    if exit_when_idle_s is not None:
        _exit_when_idle(app, worker, activity, processing, store, exit_when_idle_s)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
    finally:
        if writer is not None:
            writer.close()
    if writer is not None and writer.failure is not None:
        raise writer.failure  # the store stayed down past the deadline: fail loudly
    return _finish(_report(role, processing, writer), activity)


def faust_worker(app: Any, loop: asyncio.AbstractEventLoop, loglevel: str,
                 logging_config: dict[str, Any] | None = None) -> Any:
    """The faust.Worker running ``app``, without its terminal spinner: for it, at a level
    of WARNING or above, Faust gives the root logger level DEBUG, and every debug call
    of aiokafka and Faust (a few a message) then builds its record (a tenth of the
    event loop of a worker at ``--loglevel warning``, as the benchmarks run it)."""
    worker = faust.Worker(app, loglevel=loglevel, loop=loop, redirect_stdouts=False,
                          logging_config=logging_config)
    worker.spinner = None
    return worker


async def make_dedup_changelog(settings: Settings, names: TopicNames, changelog: str,
                               partitions: int) -> int:
    """Make the dedup table's changelog if missing; return its copies.

    Made here, before Faust's first rebalance: on a cluster the one Faust makes at
    start is not yet in the metadata its assignor reads, which leaves its partitions
    out ("Ignoring missing topic") and the table never flushes. With the settings'
    replication factor, or as many copies as the source topics have when that is
    more (:func:`~fleetgraph.ingest.kafka.topics.state_copies`); an existing
    changelog with fewer copies than its sources is logged as a warning.
    """
    from aiokafka.errors import KafkaError

    kafka = settings.kafka
    try:
        copies = await fewest_copies(kafka.bootstrap, [*names.sources, changelog])
    except KafkaError as exc:
        log.warning("could not read the source topics' replication (%r); the dedup "
                    "changelog %s gets the settings' %d copies", exc, changelog,
                    kafka.replication_factor)
        copies = {}
    wanted = state_copies(kafka.replication_factor, copies, names.sources)
    if changelog in copies:
        if copies[changelog] < wanted:
            log.warning("the dedup changelog %s has %d copies, fewer than its source topics "
                        "(%d): a broker's loss can lose committed updates or stall every "
                        "commit; give it more (a partition reassignment)",
                        changelog, copies[changelog], wanted)
    elif wanted > kafka.replication_factor:  # a warning: logs are not set up yet
        log.warning("the dedup changelog %s gets %d copies, as its source topics "
                 "(FLEETGRAPH_TOPIC_REPLICATION_FACTOR is %d)", changelog, wanted,
                 kafka.replication_factor)
    await create_topics(kafka.bootstrap, [changelog], partitions, replication_factor=wanted,
                        min_insync_replicas=kafka.min_insync_replicas)
    return copies.get(changelog, wanted)


def _finish(report: WorkerReport, activity: Activity) -> WorkerReport:
    report.first_event_at, report.last_stored_at = activity.first_event, activity.last_stored
    if activity.first_event_cpu is not None and activity.last_stored_cpu is not None:
        report.busy_cpu_s = activity.last_stored_cpu - activity.first_event_cpu
    log.info("worker stopped: %s", report)
    return report


def _logging(loglevel: str, settings: Settings) -> None:
    """Log as a Faust worker does (the sink role runs without one); JSON lines when
    ``settings.log_format`` says so."""
    if settings.log_format == "json":
        configure_logging("json", loglevel)
        return
    logging.basicConfig(level=loglevel.upper(),
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")


def _report(role: str, processing: Processing | None, writer: GraphStoreWriter | None
            ) -> WorkerReport:
    report = WorkerReport(role)
    if processing is not None:
        report.processed = {**processing.processors.counts(), "reread": processing.guard.reread}
        report.dead_letters = dict(processing.processors.dead_letters.counts)
    if writer is not None:
        report.graph_records_read = writer.records
        report.upserts_stored = writer.written
    return report


def _log_assignments(app: Any, activity: Activity) -> None:
    """Log each assignment on one line (tests read it to see partitions split)."""

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        log.info("fleetgraph assignment generation=%s %s",
                 app.consumer_generation_id, assignment_summary(assigned))
        activity.assigned = bool(assigned)
        activity.touch()

    app.on_partitions_assigned.connect(on_assigned)


def _report_every(app: Any, processing: Processing | None,
                  writer: GraphStoreWriter | None) -> None:
    async def report() -> None:
        counts = processing.processors.counts() if processing else {}
        if writer is not None:
            counts = {**counts, "graph_records_read": writer.records,
                      "upserts_stored": writer.written}
        log.info("fleetgraph progress %s", " ".join(f"{k}={v}" for k, v in counts.items()))

    app.timer(REPORT_EVERY_S, name="fleetgraph.progress")(report)


def _trim_heap_every(app: Any, every_s: float) -> None:
    """Give the C heap's free pages back every ``every_s`` seconds (0: never), as a
    timer of the app."""
    trim = heap_trimmer() if every_s > 0 else None
    if trim is None:
        return

    async def give_back() -> None:
        trim()

    app.timer(every_s, name="fleetgraph.malloc_trim")(give_back)


def _exit_when_idle(app: Any, worker: Any, activity: Activity, processing: Processing | None,
                    store: StoreSide | None, idle_s: float) -> None:
    stopping: list[asyncio.Future[None]] = []  # keeps the stop task referenced

    async def watch() -> None:
        while True:
            await asyncio.sleep(min(0.5, idle_s / 4))
            if activity.idle_for() < idle_s:
                continue
            if processing is not None and (
                not activity.assigned or app.rebalancing
                or processing.pending() or not processing.ready.is_set()
                or processing.sources_waiting()
            ):
                continue
            if store is not None and not await store.drained():
                continue
            log.info("idle for %.1f s with nothing buffered: stopping", activity.idle_for())
            stopping.append(asyncio.ensure_future(worker.stop()))
            return

    app.task(watch)


def store_factory_for(settings: Settings, db: Path | None = None) -> Callable[[], GraphStore]:
    """The store of ``settings.store.kind``: "embedded" (SQLite at ``db`` or
    ``settings.sqlite_path``) or "cassandra" (``settings.store.cassandra``). An unknown
    kind never gets here: the settings tree refuses it when it is read."""
    return functools.partial(open_store, settings.store, sqlite_path=db)
