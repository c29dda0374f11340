"""The explorer's pages: GraphiQL at GET /graphql (a browser asking for HTML), the graph
view at /graph, their files under /explorer/static/.

The pages reference only this server's URLs, and their Content-Security-Policy lets
scripts, styles and requests go to this server alone ('self'): no inline script, so what
a page needs to know (the example queries, the edge types, whether a token is needed)
travels as JSON in a ``<script type="application/json">`` block that the page's script
reads. With API tokens configured, the pages load without one; the queries they send
carry the token the user gives (GraphiQL's headers editor; the graph view's token box).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from fleetgraph.graph_model.types import Registry
from fleetgraph.serving.explorer.vendor import load_manifest, url_path
from fleetgraph.storage.base import GraphStore

HERE = Path(__file__).resolve().parent
STATIC_PATH = "/explorer/static"
CSP = "; ".join([
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
    "img-src 'self' data: blob:", "font-src 'self' data:", "base-uri 'none'",
    "form-action 'none'", "frame-ancestors 'none'",
])
TOKEN_PLACEHOLDER = "Bearer <paste your API token here>"
WELCOME = """# The fleet's GraphQL API. Each tab holds an example query; run it with the play
# button or Ctrl-Enter. The Docs panel (book icon) lists every field; the Explorer
# panel (folder icon) builds a query by clicking.
{ nodes(type: "site", first: 5) { items { id type } } }
"""


class Example(Protocol):
    """An example query, as ``fleetgraph.cli.examples`` finds them in a store."""

    @property
    def title(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def variables(self) -> Mapping[str, Any]: ...


# finds example queries with real ids in a store, as of a time (µs)
ExampleFinder = Callable[[GraphStore, int], Sequence[Example]]


@dataclass(frozen=True)
class Tab:
    query: str
    variables: str
    headers: str


@cache
def _template(name: str) -> Template:
    return Template((HERE / "templates" / name).read_text())


def _json_block(value: object) -> str:
    """JSON safe inside a ``<script type="application/json">`` block."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")


def _assets() -> dict[str, str]:
    manifest = load_manifest()

    def vendored(package: str, dest: str) -> str:
        return f"{STATIC_PATH}/{url_path(package, manifest, dest)}"

    return {
        "static": STATIC_PATH,
        "react": vendored("react", "react.production.min.js"),
        "react_dom": vendored("react-dom", "react-dom.production.min.js"),
        "graphiql_js": vendored("graphiql", "graphiql.min.js"),
        "graphiql_css": vendored("graphiql", "graphiql.min.css"),
        "explorer_js": vendored("@graphiql/plugin-explorer", "index.umd.js"),
        "explorer_css": vendored("@graphiql/plugin-explorer", "style.css"),
        "cytoscape": vendored("cytoscape", "cytoscape.min.js"),
    }


def page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP,
                                       "X-Content-Type-Options": "nosniff",
                                       "Referrer-Policy": "no-referrer"})


class Explorer:
    """The pages over one store. ``examples`` finds the example queries GraphiQL opens
    with (found once, at the first page, in a thread); ``ide``: serve GraphiQL (off in
    production, where introspection is off too); the graph view is always served, its
    queries going through the same token gate as any other."""

    def __init__(self, store: GraphStore, registry: Registry, *, clock: Callable[[], int],
                 examples: ExampleFinder | None, token_required: bool, ide: bool,
                 graphql_path: str = "/graphql") -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.examples = examples
        self.token_required = token_required
        self.ide = ide
        self.graphql_path = graphql_path
        self._tabs: asyncio.Future[list[Tab]] | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/graph", self.graph_page, methods=["GET"]),
            Mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="explorer-static"),
        ]

    async def tabs(self) -> list[Tab]:
        """The example tabs, found once: a request cut short by its deadline leaves the
        search running, and the next page waits for the same one."""
        loop = asyncio.get_running_loop()
        if self._tabs is None or (self._tabs.get_loop() is not loop and not self._tabs.done()):
            self._tabs = loop.create_task(asyncio.to_thread(self._find_tabs))
        if self._tabs.done():
            return self._tabs.result()
        return await asyncio.shield(self._tabs)

    def _find_tabs(self) -> list[Tab]:
        try:
            found = self.examples(self.store, self.clock()) if self.examples else []
        except Exception as exc:  # the page still opens, saying why it has no examples
            return [self._tab(f"# No example queries: looking for them in the store "
                              f"failed ({type(exc).__name__}: {exc}).\n{WELCOME}", {})]
        return [self._tab(f"# {e.title}\n{e.query}\n", dict(e.variables))
                for e in found] or [self._tab(WELCOME, {})]

    def _tab(self, query: str, variables: dict[str, Any]) -> Tab:
        headers = {"Authorization": TOKEN_PLACEHOLDER} if self.token_required else {}
        return Tab(query, json.dumps(variables, indent=2), json.dumps(headers, indent=2))

    async def graphiql_page(self, request: Request) -> Response:
        """GraphiQL with the fleet's example queries as its tabs."""
        if not self.ide:
            return Response("GraphiQL is off in production mode", status_code=404)
        config = {"url": self.graphql_path, "tokenRequired": self.token_required,
                  "tokenPlaceholder": TOKEN_PLACEHOLDER,
                  "tabs": [tab.__dict__ for tab in await self.tabs()]}
        return page(_template("graphiql.html").substitute(
            _assets(), config=_json_block(config)))

    async def graph_page(self, request: Request) -> Response:
        """The graph view: a neighbourhood, a blast radius or a lineage, drawn."""
        edges = {name: {"from": sorted(edge.from_types), "to": sorted(edge.to_types)}
                 for name, edge in sorted(self.registry.edges.items())}
        config = {"url": self.graphql_path, "tokenRequired": self.token_required,
                  "nodeTypes": sorted(self.registry.nodes), "edgeTypes": edges,
                  "ide": self.ide}
        return page(_template("graph.html").substitute(_assets(), config=_json_block(config)))
