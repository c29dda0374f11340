"""Open the store a :class:`StoreConfig` names: one map from kind to opener.

Each backend takes only its own section of the config (as Feast's online
stores do): the embedded store its SQLite file, Cassandra its
:class:`~fleetgraph.storage.config.CassandraConfig`. The backends are imported
only when opened, so the embedded store needs no Cassandra driver loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetgraph.core.errors import ConfigError
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.types import Registry
from fleetgraph.storage.base import GraphStore, StorageUnavailable
from fleetgraph.storage.config import STORE_KINDS, StoreConfig, StoreKind

# (config, sqlite_path, registry, backend options) -> an open store
Opener = Callable[[StoreConfig, Path | None, Registry, dict[str, Any]], GraphStore]


def _embedded(config: StoreConfig, sqlite_path: Path | None, registry: Registry,
              options: dict[str, Any]) -> GraphStore:
    from fleetgraph.storage.embedded import SQLiteGraphStore

    path = sqlite_path or config.embedded.sqlite_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageUnavailable(f"cannot make the embedded store's folder {path.parent}: "
                                 f"{exc}") from exc
    options.setdefault("cache_mib", config.embedded.cache_mib)
    return SQLiteGraphStore(registry, path, **options)


def _cassandra(config: StoreConfig, sqlite_path: Path | None, registry: Registry,
               options: dict[str, Any]) -> GraphStore:
    del sqlite_path  # the embedded store's only
    from fleetgraph.storage.cassandra import CassandraGraphStore

    return CassandraGraphStore(registry, config.cassandra, **options)


OPENERS: dict[str, Opener] = {"embedded": _embedded, "cassandra": _cassandra}
STORES: tuple[StoreKind, ...] = STORE_KINDS  # the kinds, in the order the CLI lists them
assert set(OPENERS) == set(STORES)


def missing_graph(config: StoreConfig, *, kind: StoreKind | str | None = None,
                  sqlite_path: Path | None = None) -> str | None:
    """Why there is no graph to read yet, before opening (which would create one), or
    None: the embedded store's file does not exist. A Cassandra graph is checked
    when opened (its schema mode)."""
    if (kind or config.kind) == "embedded":
        path = sqlite_path or config.embedded.sqlite_path
        if not path.exists():
            return f"no store at {path}"
    return None


def open_store(
    config: StoreConfig,
    *,
    kind: StoreKind | str | None = None,
    sqlite_path: Path | None = None,
    registry: Registry = FLEET,
    **options: Any,
) -> GraphStore:
    """The store of ``kind`` (``config.kind`` by default). ``sqlite_path`` overrides
    the embedded store's file; ``options`` go to the backend's constructor
    (``clock=``, ``schema=``, ...). Raises ConfigError for an unknown kind."""
    kind = kind or config.kind
    opener = OPENERS.get(kind)
    if opener is None:
        raise ConfigError(f"unknown store {kind!r}; choose one of {', '.join(STORES)}")
    return opener(config, sqlite_path, registry, dict(options))
