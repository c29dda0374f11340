"""The Faust app of a worker, from Settings.

A worker has a role: ``process`` (the four source agents, dedup table and its
flush timer), ``sink`` (the graph topics into the GraphStore) or ``all``
(both). The source agents read in ``<consumer_group>`` (``all``) or
``<consumer_group>-process``; the sink is no Faust agent and reads in
``<consumer_group>-store`` (:mod:`fleetgraph.ingest.kafka.store_consumer`), and a
``sink`` worker runs without a Faust app (:mod:`fleetgraph.ingest.kafka.sink_worker`).
Any number of workers of one role share its partitions. Run either ``all``
workers or split ones, not both: they would do the same work twice (the
stores would merge it to the same graph, at twice the cost).
"""

from __future__ import annotations

from time import monotonic
from typing import Any

import faust
from faust.sensors import Monitor

from fleetgraph.ingest.kafka.topics import DEFAULT_PARTITIONS
from fleetgraph.settings import Settings

ROLES = ("all", "process", "sink")
SOURCE_FETCH_BYTES = 256 * 1024
PRODUCER_BUFFER = 5000  # messages sent with send_soon (dead letters) in flight
# How long the producer keeps a message it could not deliver (aiokafka's request_timeout_ms:
# a produce request's wait, its acks=all wait on the broker, and a batch's life, retries
# included). Faust's default is 20 minutes, during which a commit waiting for a write to a
# partition without a leader hangs without a word; a minute outlasts a leader election
# (seconds) and a follower's removal from the in-sync replicas (replica.lag.time.max.ms,
# 30 s by default), then the write fails and the commit with it (checkpoint.py, step 4).
PRODUCER_REQUEST_TIMEOUT_S = 60.0
# How often Faust commits source offsets. Each commit first writes every dedup entry
# changed since the last one to the changelog (checkpoint.py, step 2), so a key updated
# all along is written once a commit: 2 s writes about half the entries of 1 s. A graph
# record's way out (the flush timer) does not wait for commits; a restarted worker
# reads at most this much again.
COMMIT_INTERVAL_S = 2.0


class QuietMonitor(Monitor):
    """Faust's Monitor without its per-message statistics (counters by topic, stream
    and task, timings of every event, message and send: about a tenth of a worker's
    event loop with the sensor calls). It keeps what Faust itself reads: when a
    partition's stream last took an event (``stream_inbound_time``, for its "slow
    processing" diagnostics), the offsets it tracks, commits and rebalances."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any,
                            state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int,
                          valsize: int) -> Any:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None


def app_id(settings: Settings, role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    group = settings.kafka.consumer_group
    return group if role == "all" else f"{group}-{role}"


def broker_urls(bootstrap: str) -> list[str]:
    """``host:port,host:port`` -> Faust's ``kafka://`` URLs."""
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def create_app(
    settings: Settings,
    *,
    role: str = "all",
    partitions: int = DEFAULT_PARTITIONS,
    web_port: int | None = None,
    **options: Any,
) -> Any:
    """A faust.App for one role; ``web_port=None`` runs no web server.

    ``options`` override Faust settings (e.g. ``broker_commit_interval``).
    """
    ident = app_id(settings, role)
    datadir = settings.data_dir / "faust" / ident
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    config: dict[str, Any] = {
        "broker": broker_urls(settings.kafka.bootstrap),
        "store": "memory://",  # tables live in memory, rebuilt from their changelog
        "topic_partitions": partitions,
        # Faust's changelog topics: as many copies as fleetgraph's own (min.insync.replicas
        # is the brokers' default, 2 on the local cluster)
        "topic_replication_factor": settings.kafka.replication_factor,
        "topic_disable_leader": True,
        "table_standby_replicas": 0,  # a failed-over dedup partition is re-read from its changelog
        "consumer_auto_offset_reset": "earliest",
        "datadir": str(datadir),
        "autodiscover": False,
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
        "web_host": settings.server.host,
        # the produce requests' socket writes were a fifth of the loop thread's time:
        # fewer, fuller requests (changelog entries, graph messages, dead letters)
        "producer_linger": 0.02,
        "producer_max_batch_size": 256 * 1024,
        "producer_request_timeout": PRODUCER_REQUEST_TIMEOUT_S,
        "broker_commit_interval": COMMIT_INTERVAL_S,
        "broker_max_poll_records": 500,
        # bounded in-flight source records: at most this much fetched per partition
        # (aiokafka's max_partition_fetch_bytes; Faust's default is 1 MiB). Each
        # agent's stream keeps Faust's default buffer (4096 events): a smaller one
        # pauses partitions more often, and Faust then skipped records ("gaps",
        # refused and read again by the checkpoint, at a cost)
        "consumer_max_fetch_size": SOURCE_FETCH_BYTES,
        # the streams take an event waiting in their buffer without awaiting the channel
        # (two coroutines and a future less a message), and resume a paused partition
        # when its buffer is down to a quarter, not only once it is empty (faust-streaming's
        # opt-in fast path of its Cython StreamIterator; the acknowledgement is the same code)
        "cython_optimizations": True,
    }
    config.update(options)
    app = faust.App(ident, monitor=QuietMonitor(), **config)
    # Faust holds every stream while its producer buffer has more than 100 messages,
    # and drains it 100 at a time (a logged warning and a timed wait per message);
    # the dedup changelog's bursts (thousands a commit) no longer go through it
    # (changelog.py), the dead letters do
    app.producer.buffer.max_messages = PRODUCER_BUFFER
    return app
