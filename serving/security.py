"""Who may ask what: API tokens map to roles, roles to root fields.

``ops`` reads everything; ``scheduler`` reads placement and topology;
``auditor`` reads lineage and residency (and single nodes, for provenance).
Tokens come from settings (``FLEETGRAPH_API_TOKENS='{"<token>": "<role>"}'``),
never from code. With no tokens configured (development) every request is
``ops``. A missing or unknown token gets 401, a root field the role may not
read 403, each with a GraphQL-shaped error body; only a GET without a query
(the GraphiQL page, when it is served) needs no token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from graphql import GraphQLSyntaxError, parse
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVERYTHING = frozenset({"*"})
ROLE_FIELDS: dict[str, frozenset[str]] = {
    "ops": EVERYTHING,
    "scheduler": frozenset({
        "node", "nodes", "traverse", "searchNodes", "path", "modelHotness", "placement",
    }),
    "auditor": frozenset({"node", "lineage", "dataResidency"}),
}
ALWAYS = frozenset({"__typename", "__schema", "__type"})


def root_fields(query: str, operation_name: str | None) -> set[str]:
    """The root fields an operation selects (through fragments too)."""
    document = parse(query)
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations
              if operation_name is None or (o.name and o.name.value == operation_name)]
    names: set[str] = set()
    for operation in chosen:
        _collect(operation.selection_set, fragments, names, set())
    return names


def _collect(selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode],
             names: set[str], seen: set[str]) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, fragments, names, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                seen.add(name)
                _collect(fragments[name].selection_set, fragments, names, seen)


class RoleGate:
    """ASGI wrapper in front of the GraphQL endpoint."""

    def __init__(self, app: ASGIApp, tokens: Mapping[str, str]) -> None:
        unknown = {role for role in tokens.values() if role not in ROLE_FIELDS}
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; roles are "
                             f"{', '.join(sorted(ROLE_FIELDS))}")
        self.app = app
        self.tokens = dict(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        request = _graphql_request(scope, body)
        if request is None and scope["method"] == "GET":  # the GraphiQL page, if served
            await self.app(scope, replay(body), send)
            return
        role = self.tokens.get(_bearer(scope) or "")
        if role is None:
            await refuse(send, 401, "missing or unknown API token: send "
                         "'Authorization: Bearer <token>'", "UNAUTHENTICATED")
            return
        allowed = ROLE_FIELDS[role]
        if request is not None and allowed is not EVERYTHING:
            try:
                asked = root_fields(*request)
            except GraphQLSyntaxError:
                asked = set()  # the server reports the syntax error itself
            forbidden = sorted(asked - allowed - ALWAYS)
            if forbidden:
                await refuse(send, 403, f"role {role!r} may not read "
                             f"{', '.join(forbidden)}; it may read "
                             f"{', '.join(sorted(allowed))}", "FORBIDDEN")
                return
        await self.app(scope, replay(body), send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _graphql_request(scope: Scope, body: bytes) -> tuple[str, str | None] | None:
    if scope["method"] == "GET":
        params = parse_qs(scope.get("query_string", b"").decode())
        if "query" not in params:
            return None
        return params["query"][0], params.get("operationName", [None])[0]
    try:
        payload: Any = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return None
    name = payload.get("operationName")
    return payload["query"], name if isinstance(name, str) else None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


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
