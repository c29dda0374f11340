"""``/readyz``: the server can answer queries (``/healthz``, in serving.app, says only
that the process answers).

``/healthz`` touches nothing: a liveness probe must not fail because the store is
slow (restarting the server would not help). ``/readyz`` answers 200 only when the
store answers a cheap read (a page of one node) and its schema is the registry's
(the backend's ``check_schema``), both within ``timeout_s`` in a worker thread; else
503 with a JSON body naming what is wrong. One check runs at a time: probes that come
while one runs share its answer, so a hung store holds one thread, not one per probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from fleetgraph.graph_model.types import Registry
from fleetgraph.storage.base import GraphStore, StorageUnavailable
from fleetgraph.storage.delegating import DelegatingStore

READY_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str]  # check -> "ok" or what is wrong

    def body(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not ready", "checks": self.checks}


def schema_check_of(store: GraphStore) -> Callable[[], None] | None:
    """The backend's ``check_schema`` (raises unless the schema matches the registry),
    found through proxies (DelegatingStore); None when the backend has none."""
    while isinstance(store, DelegatingStore):
        store = store.inner
    check = getattr(store, "check_schema", None)
    return check if callable(check) else None


def check_store(store: GraphStore, registry: Registry) -> Readiness:
    """Read a page of one node, then compare the schema with the registry (blocking)."""
    checks: dict[str, str] = {}
    node_type = next(iter(registry.nodes))
    try:
        store.scan_nodes(node_type, None, 1)
        checks["store"] = "ok"
    except StorageUnavailable as exc:
        checks["store"] = f"unreachable: {exc}"
    except Exception as exc:
        checks["store"] = f"read failed: {type(exc).__name__}: {exc}"
    check = schema_check_of(store)
    if checks["store"] != "ok":
        checks["schema"] = "not checked: the store did not answer"
    elif check is None:
        checks["schema"] = "ok (the backend has no schema check)"
    else:
        try:
            check()
            checks["schema"] = "ok"
        except Exception as exc:
            checks["schema"] = f"not current: {exc}"
    ready = all(v.startswith("ok") for v in checks.values())
    return Readiness(ready, checks)


class ReadinessProbe:
    """Runs :func:`check_store` in a worker thread, one at a time, within ``timeout_s``;
    ``on_result(ready)`` hears every answer (the ``fleetgraph_ready`` gauge)."""

    def __init__(self, store: GraphStore, registry: Registry, *,
                 timeout_s: float = READY_TIMEOUT_S,
                 on_result: Callable[[bool], None] = lambda ready: None) -> None:
        self.store = store
        self.registry = registry
        self.timeout_s = timeout_s
        self.on_result = on_result
        self._running: asyncio.Future[Readiness] | None = None

    async def check(self) -> Readiness:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(
                asyncio.to_thread(check_store, self.store, self.registry))
        try:
            result = await asyncio.wait_for(asyncio.shield(self._running), self.timeout_s)
        except TimeoutError:
            result = Readiness(False, {"store": f"no answer within {self.timeout_s:g} s"})
        self.on_result(result.ready)
        return result

    async def readyz(self, request: Request) -> JSONResponse:
        result = await self.check()
        return JSONResponse(result.body(), status_code=200 if result.ready else 503)
