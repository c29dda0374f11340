"""Request bodies: bounded in size, and a POST must be one GraphQL request in JSON.

A body larger than ``max_bytes`` gets 413 (at once when its Content-Length
says so, else as soon as the bytes read pass the limit); a POST that is not
``application/json`` gets 415; a JSON body that does not parse, is not one
object with a ``query`` string (batching is off), a GET repeating a GraphQL
parameter (``query``, ``operationName``, ``variables``, ``extensions``), or variables
(in a POST or a GET) holding more than ``MAX_VARIABLE_ITEMS`` list items, gets 400. Each answer is a
GraphQL-shaped error with a code (``PAYLOAD_TOO_LARGE``, ``UNSUPPORTED_MEDIA_TYPE``,
``BAD_REQUEST``), sent before the token check and before any GraphQL work.

A POST's body is parsed once: the request object that passed is kept in the scope
(:data:`PAYLOAD_KEY`, :func:`payload_of`) for the GraphQL endpoint and the metrics.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from fleetgraph.serving.errors import ServingError
from fleetgraph.serving.security import refuse, replay

# Past the limit the rest of a body is read and dropped up to this many bytes, so
# that the client, still sending, reads the 413 instead of a reset connection.
DRAIN_BYTES = 8 * 1024 * 1024
# Turning thousands of variable items into input objects costs seconds of CPU
# before any resolver runs; no list argument of the schema needs that many.
MAX_VARIABLE_ITEMS = 1000
# The parameters of a GraphQL GET; a repeated one makes the request ambiguous.
GRAPHQL_PARAMETERS = ("query", "operationName", "variables", "extensions")
# where the body guard keeps the JSON object of a POST that passed it
PAYLOAD_KEY = "fleetgraph.graphql_payload"


class BodyTooLarge(ServingError):
    """The request body passed the limit (answered with 413, never raised to a client)."""


class BodyGuard:
    """ASGI wrapper in front of the GraphQL endpoint."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = (f"request body larger than the {self.max_bytes:,}-byte limit; "
                     "send a smaller query or fewer variables")
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _drain(receive, declared)
            await refuse(send, 413, too_large, "PAYLOAD_TOO_LARGE")
            return
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLarge:
            await refuse(send, 413, too_large, "PAYLOAD_TOO_LARGE")
            return
        if scope["method"] == "POST" and not _is_json(scope):
            await refuse(send, 415, "send the request as JSON (content-type: "
                         "application/json) with a 'query' string", "UNSUPPORTED_MEDIA_TYPE")
            return
        if scope["method"] == "POST":
            payload, problem = read_payload(body)
            scope[PAYLOAD_KEY] = payload
        else:
            problem = get_problem(scope)
        if problem is not None:
            await refuse(send, 400, problem, "BAD_REQUEST")
            return
        await self.app(scope, replay(body), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_body(receive: Receive, max_bytes: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` once it passes ``max_bytes`` (the
    rest is drained)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            if message.get("more_body"):
                await _drain(receive, DRAIN_BYTES)
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _drain(receive: Receive, limit: int) -> None:
    """Read and drop what is left of a body, up to ``min(limit, DRAIN_BYTES)`` bytes."""
    dropped = 0
    while dropped <= min(limit, DRAIN_BYTES):
        message = await receive()
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
        if not message.get("more_body"):
            return


def json_problem(body: bytes) -> str | None:
    """What is wrong with a JSON POST body as a GraphQL request, or None."""
    return read_payload(body)[1]


def read_payload(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """A JSON POST body as a GraphQL request: its object, or what is wrong with it.
    (The standard library reads it: a request body is small, and orjson would read an
    integer past 64 bits as a float.)"""
    try:
        payload: Any = json.loads(body)
    except ValueError as exc:
        return None, f"request body is not valid JSON: {exc}"
    except RecursionError:
        return None, "request body is nested too deeply"
    if not isinstance(payload, dict):
        return None, ("request body must be one JSON object {\"query\": ..., "
                      "\"variables\": ...} (batched requests are not accepted)")
    if not isinstance(payload.get("query"), str):
        return None, "request body has no 'query' string"
    if not isinstance(payload.get("operationName"), str | None):
        return None, "'operationName' must be a string"
    problem = variables_problem(payload.get("variables"))
    return (None, problem) if problem is not None else (payload, None)


def payload_of(scope: Scope) -> dict[str, Any] | None:
    """The JSON object of a POST the body guard passed (None for a GET)."""
    payload = scope.get(PAYLOAD_KEY)
    return payload if isinstance(payload, dict) else None


def document_of(scope: Scope) -> tuple[str, str | None] | None:
    """The GraphQL document and operation name a request that passed the body guard
    sent (a POST's JSON, a GET's parameters), or None when it sent no document."""
    payload = payload_of(scope)
    if payload is None:
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        query = (params.get("query") or [None])[0]
        operation = (params.get("operationName") or [None])[0]
    else:
        query, operation = payload.get("query"), payload.get("operationName")
    if not isinstance(query, str) or not isinstance(operation, str | None):
        return None
    return query, operation


def get_problem(scope: Scope) -> str | None:
    """What is wrong with the parameters of a GET, or None: each GraphQL parameter at
    most once (a server may read the first of two and another the last), and bounded
    ``variables``."""
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    repeated = [name for name in GRAPHQL_PARAMETERS if len(params.get(name, ())) > 1]
    if repeated:
        return (f"repeated GraphQL parameter {', '.join(repr(r) for r in repeated)}: send "
                f"each of {', '.join(GRAPHQL_PARAMETERS)} at most once")
    if "variables" not in params:
        return None
    try:
        variables = json.loads(params["variables"][0])
    except ValueError as exc:
        return f"'variables' is not valid JSON: {exc}"
    except RecursionError:
        return "'variables' is nested too deeply"
    return variables_problem(variables)


def variables_problem(variables: Any) -> str | None:
    if not isinstance(variables, dict | None):
        return "'variables' must be a JSON object"
    try:
        items = list_items(variables)
    except RecursionError:
        return "'variables' is nested too deeply"
    if items > MAX_VARIABLE_ITEMS:
        return (f"'variables' hold {items:,} list items; at most {MAX_VARIABLE_ITEMS:,} "
                "(every list argument of the schema is short)")
    return None


def list_items(value: Any) -> int:
    """How many list items a JSON value holds, nested lists and objects included."""
    if isinstance(value, list):
        return len(value) + sum(list_items(v) for v in value)
    if isinstance(value, dict):
        return sum(list_items(v) for v in value.values())
    return 0


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media: str = value.decode("latin-1").split(";", 1)[0].strip().lower()
            return media == "application/json"
    return False
