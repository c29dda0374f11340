"""``fleetgraph worker``: one Faust worker as a process (the library is
fleetgraph/ingest/kafka/worker.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fleetgraph.settings import Settings
from fleetgraph.storage.factory import STORES

ROLES = ("all", "process", "sink")  # fleetgraph.ingest.kafka.app.ROLES, without importing Faust
PARTITIONS = 4  # fleetgraph.ingest.kafka.topics.DEFAULT_PARTITIONS


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@click.command()
@click.option("--role", type=click.Choice(ROLES), default="all", show_default=True,
              help="Process source topics, sink graph topics, or both.")
@click.option("--store", "store_kind", type=click.Choice(STORES), default=None,
              help="The sink's store [env FLEETGRAPH_STORE; default embedded].")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="Embedded store file [default: <data-dir>/graph.sqlite].")
@click.option("--partitions", type=int, default=PARTITIONS, show_default=True,
              help="Partitions of the topics this worker creates.")
@click.option("--web-port", type=int, default=None, help="Faust's web server port (off).")
@click.option("--metrics-port", type=int, default=None,
              help="Serve Prometheus /metrics on this port [env FLEETGRAPH_METRICS_PORT; "
                   "default 0: off].")
@click.option("--loglevel", default="info", show_default=True, help="The worker's log level.")
@click.option("--exit-when-idle", type=float, default=None, metavar="SECONDS",
              help="Stop after this long with nothing to do (batch runs).")
@click.option("--bootstrap", default=None, help="Kafka [env FLEETGRAPH_KAFKA_BOOTSTRAP].")
@click.option("--topic-prefix", default=None, help="[env FLEETGRAPH_TOPIC_PREFIX]")
@click.option("--group", default=None, help="Consumer group [env FLEETGRAPH_CONSUMER_GROUP].")
@click.option("--dedup-window", type=float, default=None, metavar="SECONDS",
              help="[env FLEETGRAPH_DEDUP_WINDOW_S]")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="As `fleetgraph --data-dir` [env FLEETGRAPH_DATA_DIR].")
@click.pass_context
def worker(ctx: click.Context, role: str, store_kind: str | None, db: Path | None,
           partitions: int, web_port: int | None, metrics_port: int | None, loglevel: str,
           exit_when_idle: float | None,
           bootstrap: str | None, topic_prefix: str | None, group: str | None,
           dedup_window: float | None, data_dir: Path | None) -> None:
    """Run a Faust worker: Kafka source topics -> stages -> per-type graph topics -> store.

    Start several with the same FLEETGRAPH_CONSUMER_GROUP to split the partitions."""
    from fleetgraph.ingest.kafka.worker import run_worker, store_factory_for

    settings = ctx.find_object(Settings)
    assert settings is not None
    settings = settings.updated(
        kafka=_given(bootstrap=bootstrap, topic_prefix=topic_prefix, consumer_group=group),
        ingest=_given(dedup_window_s=dedup_window, metrics_port=metrics_port),
        store=_given(kind=store_kind),
        **_given(data_dir=data_dir))
    import threading

    before = set(threading.enumerate())
    report = run_worker(settings, store_factory_for(settings, db), role=role,
                        partitions=partitions, web_port=web_port, loglevel=loglevel,
                        exit_when_idle_s=exit_when_idle)
    click.echo(str(report))
    exit_past_lingering_threads(before)


def exit_past_lingering_threads(before: set[Any], grace_s: float = 5.0) -> None:
    """End the process once the worker has stopped, even when a thread it started
    lingers. Faust's aiokafka consumer thread has been seen to outlive the worker's
    stop under load (its event loop closed, the thread not a daemon): everything was
    committed and the report printed, yet the process never exited. Such threads get
    ``grace_s`` seconds to end; then the process exits with status 0. Only threads
    started since ``before`` (the threads alive when the worker started) count: a
    caller's own threads (a test running the command in process) are not the worker's."""
    import logging
    import os
    import sys
    import threading
    import time

    deadline = time.monotonic() + grace_s

    def lingering() -> list[threading.Thread]:
        return [t for t in threading.enumerate()
                if t not in before and not t.daemon and t.is_alive()]

    for thread in lingering():
        thread.join(max(0.0, deadline - time.monotonic()))
    left = lingering()
    if not left:
        return
    logging.getLogger(__name__).warning(
        "the worker stopped but %d thread(s) linger (%s); exiting", len(left),
        ", ".join(t.name for t in left))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
