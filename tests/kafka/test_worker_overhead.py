"""What a worker pays a message outside its stages: Faust's monitor and the logging
level its worker leaves; the CPU its report counts (no broker needed)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from faust.sensors import Monitor
from faust.types import TP

from fleetgraph.ingest.kafka.activity import Activity
from fleetgraph.ingest.kafka.app import QuietMonitor, create_app
from fleetgraph.ingest.kafka.worker import WorkerReport, _finish, faust_worker
from fleetgraph.settings import Settings


def _app(tmp_path: Path) -> Any:
    settings = Settings().updated(data_dir=tmp_path,
                                  kafka={"topic_prefix": "fg.", "consumer_group": "fg-test"})
    return create_app(settings, partitions=4)


def _feed(monitor: Monitor, messages: int) -> None:
    """What Faust tells its monitor of ``messages`` messages of one stream."""

    class Message:
        time_in: float | None = None

    class Agent:
        pass

    class Stream:
        task_owner = Agent()

    tp, stream = TP("fg.telemetry", 2), Stream()
    for offset in range(messages):
        message = Message()
        monitor.on_message_in(tp, offset, message)  # type: ignore[arg-type]
        state = monitor.on_stream_event_in(tp, offset, stream, None)  # type: ignore[arg-type]
        monitor.on_stream_event_out(tp, offset, stream, None, state)  # type: ignore[arg-type]
        monitor.on_message_out(tp, offset, message)  # type: ignore[arg-type]


def test_the_workers_monitor_keeps_what_faust_reads_and_no_statistics_a_message(
        tmp_path: Path) -> None:
    app = _app(tmp_path)
    assert isinstance(app.monitor, QuietMonitor)
    quiet, full = QuietMonitor(), Monitor()
    _feed(quiet, 50)
    _feed(full, 50)
    tp = TP("fg.telemetry", 2)
    # Faust's consumer reads when a partition's stream last took an event ("slow
    # processing" diagnostics): both monitors know it
    assert set(quiet.stream_inbound_time) == set(full.stream_inbound_time) == {tp}
    # the statistics a message are Faust's monitor's only
    assert full.messages_received_total == 50 and len(full.events_runtime) == 50
    assert quiet.messages_received_total == 0 and len(quiet.events_runtime) == 0
    assert quiet.messages_active == 0 and quiet.events_active == 0


def test_a_worker_at_level_warning_leaves_the_root_logger_there(tmp_path: Path) -> None:
    """Faust's worker gives the root logger level DEBUG for its terminal spinner when
    the level asked for is WARNING or above: every debug call of aiokafka and Faust
    then builds a record. The worker runs without the spinner."""
    app = _app(tmp_path)
    loop = asyncio.new_event_loop()
    try:
        worker = faust_worker(app, loop, "warning")
        logger = logging.getLogger("fleetgraph.test.worker-root")
        logger.addHandler(logging.NullHandler())
        logger.setLevel(logging.WARNING)
        worker.on_setup_root_logger(logger, logging.WARNING)
        assert logger.level == logging.WARNING
        assert not logger.isEnabledFor(logging.DEBUG)
    finally:
        loop.close()


def test_the_report_counts_the_cpu_between_the_first_event_and_the_last_store_write() -> None:
    activity = Activity()
    before = time.process_time()
    activity.event()
    first = activity.first_event_cpu
    sum(i * i for i in range(200_000))  # some CPU between the two marks
    activity.event()  # only the first event marks
    assert activity.first_event_cpu == first
    activity.stored()
    after = time.process_time()
    report = _finish(WorkerReport("all"), activity)
    assert first is not None and before <= first
    assert report.busy_cpu_s is not None
    assert 0 < report.busy_cpu_s <= after - before
    assert report.busy_cpu_s == activity.last_stored_cpu - first  # type: ignore[operator]
    assert _finish(WorkerReport("process"), Activity()).busy_cpu_s is None  # nothing stored
