"""The HTTP server: GraphQL (and GraphiQL) at /graphql, a health check at /healthz."""

from __future__ import annotations

from typing import Any

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from graph_model.fleet import FLEET
from graph_model.types import Registry
from serving.context import Clock, ServingContext, new_context
from serving.schema import build_schema
from serving.times import now_us
from storage.base import GraphStore


class FleetGraphQL(GraphQL[ServingContext, None]):
    """Strawberry's ASGI view with a fresh context (and DataLoaders) per request."""

    def __init__(
        self,
        schema: strawberry.Schema,
        store: GraphStore,
        *,
        registry: Registry,
        clock: Clock,
        graphiql: bool,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.store = store
        self.registry = registry
        self.clock = clock

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> ServingContext:
        return new_context(self.store, registry=self.registry, clock=self.clock)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app(
    store: GraphStore,
    *,
    clock: Clock = now_us,
    graphiql: bool = True,
    registry: Registry = FLEET,
    schema: strawberry.Schema | None = None,
) -> Starlette:
    """The ASGI app over ``store``; ``clock`` (µs) is "now" for default windows."""
    graphql = FleetGraphQL(
        schema or build_schema(), store, registry=registry, clock=clock, graphiql=graphiql
    )
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def serve(
    store: GraphStore,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    clock: Clock = now_us,
    graphiql: bool = True,
    registry: Registry = FLEET,
    **uvicorn_options: Any,
) -> None:
    """Serve the GraphQL API over ``store`` with uvicorn until interrupted.

    ``uvicorn_options`` go to ``uvicorn.run`` (e.g. ``log_level``); the app is
    built in this process, around this store, so uvicorn's ``workers`` do not apply.
    """
    app = create_app(store, clock=clock, graphiql=graphiql, registry=registry)
    uvicorn.run(app, host=host, port=port, **uvicorn_options)
