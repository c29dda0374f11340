"""A per-request time limit for GraphQL requests.

The response is held until the request finishes; when it takes longer than
the limit the client gets 504 with a GraphQL-shaped error and the work is
cancelled. Store reads run in worker threads, which a cancel cannot stop, so
:class:`DeadlineStore` refuses any store call made after the request's
deadline: a timed-out query stops at its next read instead of holding a
worker thread (and the store) until it would have finished.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetgraph.serving.errors import ServingError
from fleetgraph.serving.reads import check_inline_cut
from fleetgraph.serving.security import refuse
from fleetgraph.storage.delegating import DelegatingStore

READS = frozenset({"get_nodes", "neighbours", "neighbour_ids", "node_values", "scan_nodes",
                   "get_read_models"})

# A store call may run this long past the limit before it is refused, so that the
# 504 (not a GraphQL error from a refused read) is what a timed-out client gets.
GRACE_S = 0.1

# time.monotonic() after which this request's store calls are refused; copied into
# tasks and worker threads (asyncio.to_thread) with the rest of the context.
_deadline: ContextVar[float | None] = ContextVar("fleetgraph_deadline", default=None)


class QueryTimeout(ServingError):
    """The request ran past its time limit."""

    code = "TIMEOUT"


def timeout_message(seconds: float) -> str:
    return (f"query took longer than the {seconds:g} s limit; "
            "narrow it (a time window, 'first', 'limit', fewer hops)")


class Deadline:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        token = _deadline.set(time.monotonic() + self.seconds + GRACE_S)
        try:
            async with asyncio.timeout(self.seconds):  # in this task: no task per request
                await self.app(scope, receive, hold)
        except TimeoutError:
            await refuse(send, 504, timeout_message(self.seconds), "TIMEOUT")
            return
        finally:
            _deadline.reset(token)
        for message in held:
            await send(message)


def check_deadline() -> None:
    """Raise :class:`QueryTimeout` when the current request is past its deadline."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise QueryTimeout("query ran past its time limit; its remaining reads were refused")


class DeadlineStore(DelegatingStore):
    """Delegates to ``inner``; reads only while the current request has time left. A
    read on trial on the event loop (serving.reads) is cut here once it has used its
    time, before any store call."""

    def before(self, method: str, *details: object) -> None:
        check_inline_cut()
        if method in READS:
            check_deadline()
