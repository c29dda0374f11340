"""One settings object, from ``FLEETGRAPH_*`` environment variables or flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where fleetgraph keeps its data and how it reaches its servers.

    Every field can be set with an environment variable of the same name in
    capitals with the ``FLEETGRAPH_`` prefix, e.g. ``FLEETGRAPH_DATA_DIR``.
    """

    model_config = SettingsConfigDict(env_prefix="FLEETGRAPH_", extra="ignore")

    data_dir: Path = Path(".fleetgraph")
    store: str = "embedded"
    sqlite_file: Path | None = None  # the embedded store's file [default <data_dir>/graph.sqlite]
    host: str = "127.0.0.1"
    port: int = 8000
    serve_workers: int = 1  # GraphQL server processes (uvicorn workers)
    mode: Literal["development", "production"] = "development"
    api_tokens: dict[str, str] = {}  # token -> role (ops, scheduler, auditor), as JSON
    query_timeout_s: float = 10.0
    dedup_window_s: float = 5.0
    batch_size: int = 5000
    # the sink waits for a store that is down (capped exponential backoff), and
    # stops the worker when an outage outlasts the deadline (ingest/kafka/store_writer.py)
    store_retry_max_backoff_s: float = 10.0
    store_outage_deadline_s: float = 900.0

    # the real stack (see README: "Running on Kafka and Cassandra")
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "fleetgraph."
    consumer_group: str = "fleetgraph-ingest"
    cassandra_hosts: str = "127.0.0.1"  # comma-separated contact points
    cassandra_port: int = 9042
    cassandra_local_dc: str = "datacenter1"
    keyspace_prefix: str = "fg_"
    replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

    @property
    def cassandra_contact_points(self) -> list[str]:
        return [h.strip() for h in self.cassandra_hosts.split(",") if h.strip()]

    @property
    def sqlite_path(self) -> Path:
        return self.sqlite_file or self.data_dir / "graph.sqlite"

    @property
    def events_path(self) -> Path:
        return self.data_dir / "events.avro"

    @property
    def dead_letter_path(self) -> Path:
        return self.data_dir / "dead-letters.jsonl"
