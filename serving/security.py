"""Who is asking: API tokens map to roles; what a role may read is serving.access.

Tokens come from settings (``FLEETGRAPH_API_TOKENS='{"<token>": "<role>"}'``),
never from code. With no tokens configured (development) every request is
``ops``. A missing or unknown token gets 401 with a GraphQL-shaped error body;
only a GET without a query (the GraphiQL page, when it is served) needs no
token. The gate passes the role on in the ASGI scope (``ROLE_SCOPE_KEY``);
strawberry judges the document it executes against that role
(serving.access_guard), so what is judged is exactly what runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetgraph.serving.access import OPS, ROLES

ROLE_SCOPE_KEY = "fleetgraph.role"


class RoleGate:
    """ASGI wrapper in front of the GraphQL endpoint: authentication only."""

    def __init__(self, app: ASGIApp, tokens: Mapping[str, str]) -> None:
        unknown = {role for role in tokens.values() if role not in ROLES}
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; roles are "
                             f"{', '.join(sorted(ROLES))}")
        self.app = app
        self.tokens = dict(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.tokens:
            await self.app({**scope, ROLE_SCOPE_KEY: OPS}, receive, send)
            return
        if scope["method"] == "GET" and not _has_query(scope):  # the GraphiQL page, if served
            await self.app(scope, receive, send)
            return
        role = self.tokens.get(_bearer(scope) or "")
        if role is None:
            await refuse(send, 401, "missing or unknown API token: send "
                         "'Authorization: Bearer <token>'", "UNAUTHENTICATED")
            return
        await self.app({**scope, ROLE_SCOPE_KEY: role}, receive, send)


def _has_query(scope: Scope) -> bool:
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return "query" in params


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def refuse(send: Send, status: int, message: str, code: str) -> None:
    await send_json(send, status, {"data": None, "errors": [
        {"message": message, "extensions": {"code": code}}]})


async def send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
