"""One settings object, from ``FLEETGRAPH_*`` environment variables or flags."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where fleetgraph keeps its data and how it reaches its servers.

    Every field can be set with an environment variable of the same name in
    capitals with the ``FLEETGRAPH_`` prefix, e.g. ``FLEETGRAPH_DATA_DIR``.
    """

    model_config = SettingsConfigDict(env_prefix="FLEETGRAPH_", extra="ignore")

    data_dir: Path = Path(".fleetgraph")
    store: str = "embedded"
    host: str = "127.0.0.1"
    port: int = 8000
    dedup_window_s: float = 5.0
    batch_size: int = 2000

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "graph.sqlite"

    @property
    def events_path(self) -> Path:
        return self.data_dir / "events.avro"

    @property
    def dead_letter_path(self) -> Path:
        return self.data_dir / "dead-letters.jsonl"
