"""The HTTP server: GraphQL (and GraphiQL) at /graphql; /healthz (alive), /readyz (the
store answers, its schema current: serving.health) and Prometheus /metrics
(serving.metrics; docs/operations.md).

In front of GraphQL, outermost first: the body guard (size, JSON; serving.body),
the per-request deadline (serving.deadline), the token and role gate
(serving.security: who is asking), in production a 404 for GraphiQL; then
strawberry with the query guards (serving.guards) and the role matrix, judged on
the document it executes (serving.access_guard).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import orjson
import strawberry
import uvicorn
from cross_web import HTTPException  # strawberry's view raises it (strawberry's dependency)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from fleetgraph.core.errors import ConfigError
from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.graph_model.types import Registry
from fleetgraph.serving.body import BodyGuard, payload_of
from fleetgraph.serving.collector import collector_for_serving
from fleetgraph.serving.context import Clock, ServingContext, new_context
from fleetgraph.serving.deadline import Deadline, DeadlineStore
from fleetgraph.serving.explorer import ExampleFinder, Explorer
from fleetgraph.serving.guards import DEFAULT_LIMITS, Limits
from fleetgraph.serving.health import ReadinessProbe
from fleetgraph.serving.metrics import (
    MeteredRequests,
    QueryFields,
    ServerMetrics,
    metrics_endpoint,
)
from fleetgraph.serving.reads import StoreReads
from fleetgraph.serving.schema import build_schema
from fleetgraph.serving.security import ROLE_SCOPE_KEY, RoleGate, refuse
from fleetgraph.serving.times import now_us
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.metered import MeteredStore


class FleetGraphQL(GraphQL[ServingContext, None]):
    """Strawberry's ASGI view with a fresh context (and DataLoaders) per request; what
    the store's reads cost, and so where they run (serving.reads), is the app's.

    A POST the body guard passed (serving.body: one JSON object, a ``query`` string,
    checked variables, kept in the scope) is answered by :meth:`answer_post`, the steps
    of strawberry's view for it without those that do nothing for it (reading and
    parsing the body again, the request adapter's checks, a Starlette response object);
    anything else (a GET, GraphiQL, a streaming ``Accept``, ``extensions`` that are not
    an object, the view used without the body guard) goes through strawberry's view.
    Their answers are the same (tests/serving/test_graphql_layer_post.py).
    """

    fast_post = True  # False: every request through strawberry's view (tests)

    def __init__(
        self,
        schema: strawberry.Schema,
        store: GraphStore,
        *,
        registry: Registry,
        clock: Clock,
        graphiql: bool,
        explorer: Explorer | None = None,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.explorer = explorer
        self.store = store
        self.registry = registry
        self.clock = clock
        self.reads = StoreReads()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        payload = payload_of(scope) if self.fast_post and scope["type"] == "http" else None
        if (payload is None or not isinstance(payload.get("extensions"), dict | None)
                or self._streaming(scope)):
            await super().__call__(scope, receive, send)
            return
        try:
            await self.answer_post(scope, payload, send)
        except HTTPException as e:  # as strawberry's view answers it
            await PlainTextResponse(e.reason, status_code=e.status_code)(scope, receive, send)

    def _streaming(self, scope: Scope) -> bool:
        """Whether the request's Accept header asks for a streaming transport."""
        accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
        return accept != b"" and self._get_stream_transport_from_headers(
            {"accept": accept.decode("latin-1")}) is not None

    async def answer_post(self, scope: Scope, payload: dict[str, Any], send: Send) -> None:
        """strawberry's ``run`` for one JSON POST: context, ``execute_single`` (its
        errors for a missing or disallowed operation), ``process_result``, the response
        with the status and headers resolvers set on the context's response."""
        request = Request(scope)
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        result = await self.execute_single(
            request=request, request_adapter=self.request_adapter_class(request),
            sub_response=sub_response, context=context, root_value=None,  # get_root_value's
            request_data=GraphQLRequestData(
                query=payload["query"], variables=payload.get("variables"),
                operation_name=payload.get("operationName"),
                extensions=payload.get("extensions"), protocol="http"))
        if not isinstance(result, ExecutionResult):  # no incremental delivery is enabled
            raise TypeError(f"a POST's result is not one ExecutionResult: {type(result)}")
        data = await self.process_result(request=request, result=result)
        if result.errors:
            self._handle_errors(result.errors, data)
        body = self.encode_json(data)
        await send({"type": "http.response.start",
                    "status": sub_response.status_code or 200,
                    "headers": [(b"content-length", str(len(body)).encode()),
                                (b"content-type", b"application/json"),
                                *sub_response.headers.raw]})
        await send({"type": "http.response.body", "body": body})
        if sub_response.background is not None:
            await sub_response.background()

    def encode_json(self, data: object) -> bytes:
        """The answer's JSON, by orjson (a 14 KB blastRadius answer: 0.5 ms with the
        standard library, a few µs with orjson); what orjson cannot write (an integer
        past 64 bits in a property) by the standard library."""
        try:
            return orjson.dumps(data)
        except TypeError:  # orjson.JSONEncodeError
            return json.dumps(data, separators=(",", ":")).encode()

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the package's own files (serving.explorer), never from a CDN."""
        if self.explorer is None:
            return PlainTextResponse("no explorer", status_code=404)
        return await self.explorer.graphiql_page(request)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> ServingContext:
        """The request's context, with the role the role gate authenticated (a request
        it passed on without one, the GraphiQL page, reads nothing)."""
        return new_context(DeadlineStore(self.store), registry=self.registry, clock=self.clock,
                           role=request.scope.get(ROLE_SCOPE_KEY),
                           response=response if isinstance(response, Response) else None,
                           reads=self.reads)


class NoIDE:
    """Production: a GET without a query (a browser asking for GraphiQL) gets a
    GraphQL-shaped 404 saying that the IDE is off, instead of a bare "Not Found"."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET"
                and "query" not in parse_qs(scope.get("query_string", b"").decode())):
            await refuse(send, 404, "GraphiQL and introspection are off in production "
                         "mode; POST a JSON query to /graphql", "NOT_FOUND")
            return
        await self.app(scope, receive, send)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@asynccontextmanager
async def frozen_at_start(app: Starlette) -> AsyncIterator[None]:
    """When the server starts (ASGI lifespan), move everything alive then (modules, the
    schema, the store) out of the garbage collector's reach, and after each full
    collection what survived it: a full collection then walks only what became old
    since, a few milliseconds instead of tens to hundreds on a query's path (the p99;
    :mod:`fleetgraph.serving.collector`). They go back when the server stops."""
    with collector_for_serving():
        yield


def create_app(
    store: GraphStore,
    *,
    clock: Clock = now_us,
    production: bool = False,
    tokens: Mapping[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    registry: Registry = FLEET,
    schema: strawberry.Schema | None = None,
    examples: ExampleFinder | None = None,
    metrics: ServerMetrics | None = None,
) -> Starlette:
    """The ASGI app over ``store``; ``clock`` (µs) is "now" for default windows.

    Development (the default) serves GraphiQL and introspection and shows error
    messages; production turns those off and needs API tokens (token -> role,
    see serving.security). ``examples`` finds GraphiQL's example tabs in the store; the
    graph view is at /graph (serving.explorer).
    """
    if production and not tokens:
        raise ConfigError("production mode needs API tokens (FLEETGRAPH_API_TOKENS)")
    metrics = metrics or ServerMetrics(registry)  # /metrics; the store's reads timed
    probe = ReadinessProbe(store, registry, on_result=metrics.ready.set)  # /readyz
    explorer = Explorer(store, registry, clock=clock, examples=examples,
                        token_required=bool(tokens), ide=not production)
    schema = schema or build_schema(limits=limits, production=production)
    graphql = FleetGraphQL(
        schema,
        MeteredStore(store, metrics.store),
        registry=registry,
        clock=clock,
        graphiql=not production,
        explorer=explorer,
    )
    inner: ASGIApp = NoIDE(graphql) if production else graphql
    endpoint = BodyGuard(Deadline(RoleGate(inner, tokens or {}), limits.timeout_s),
                         limits.max_body_bytes)
    return Starlette(
        routes=[
            Route("/graphql", MeteredRequests(endpoint, metrics, QueryFields(
                schema._schema, limits.max_tokens)), methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", probe.readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint(metrics), methods=["GET"]),
            *explorer.routes(),
        ],
        lifespan=frozen_at_start,
    )


def serve(
    store: GraphStore,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    clock: Clock = now_us,
    production: bool = False,
    tokens: Mapping[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    registry: Registry = FLEET,
    examples: ExampleFinder | None = None,
    metrics: ServerMetrics | None = None,
    **uvicorn_options: Any,
) -> None:
    """Serve the GraphQL API over ``store`` with uvicorn until interrupted.

    ``uvicorn_options`` go to ``uvicorn.run`` (e.g. ``log_level``); the app is
    built in this process, around this store, so uvicorn's ``workers`` do not apply:
    for several processes see ``fleetgraph.cli.server`` (``fleetgraph serve --workers``).
    On SIGTERM, requests in flight get ``limits.shutdown_grace_s`` to finish and are
    then cancelled, so a busy server stops within a few seconds.
    """
    app = create_app(store, clock=clock, production=production, tokens=tokens, limits=limits,
                     registry=registry, examples=examples, metrics=metrics)
    uvicorn_options.setdefault("timeout_graceful_shutdown", limits.shutdown_grace_s)
    uvicorn.run(app, host=host, port=port, **uvicorn_options)
