"""The GraphQL server as the settings describe it: one process, or several uvicorn
worker processes that each build the app from ``FLEETGRAPH_*`` settings."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from fleetgraph.settings import Settings
from fleetgraph.storage.factory import open_store

APP_FACTORY = "fleetgraph.cli.server:app_from_settings"


def server_options(settings: Settings) -> dict[str, Any]:
    """The serving mode, API tokens and limits from settings; GraphiQL's example tabs."""
    from fleetgraph.cli.examples import find_examples
    from fleetgraph.serving.guards import Limits

    return {
        "production": settings.server.mode == "production",
        "tokens": settings.server.api_tokens,
        "limits": Limits(timeout_s=settings.server.query_timeout_s),
        "examples": find_examples,
    }


def uvicorn_logging(settings: Settings) -> dict[str, Any]:
    """uvicorn's ``log_config``: JSON lines when ``FLEETGRAPH_LOG_FORMAT=json``
    (fleetgraph.core.logs), else uvicorn's own text lines; without its access log
    (a line per request) when ``FLEETGRAPH_ACCESS_LOG=false``."""
    options: dict[str, Any] = {} if settings.server.access_log else {"access_log": False}
    if settings.log_format != "json":
        return options
    from fleetgraph.core.logs import logging_config

    return {**options, "log_config": logging_config("json", "INFO")}


def app_from_settings() -> Starlette:
    """The app over the store the environment's settings name (for ``uvicorn --factory``;
    each worker process opens its own store)."""
    from fleetgraph.serving.app import create_app

    settings = Settings()
    return create_app(open_store(settings.store), **server_options(settings))


def serve_workers(settings: Settings, workers: int) -> None:
    """Serve with ``workers`` uvicorn processes on settings' host and port; each one
    reads the settings from the environment, which must therefore name the store.
    On SIGTERM each worker gives requests in flight ``Limits.shutdown_grace_s``."""
    import uvicorn

    grace = server_options(settings)["limits"].shutdown_grace_s
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, host=settings.server.host,
                port=settings.server.port, timeout_graceful_shutdown=grace,
                **uvicorn_logging(settings))
