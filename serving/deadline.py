"""A per-request time limit for GraphQL requests.

The response is held until the request finishes; when it takes longer than
the limit the client gets 504 with a GraphQL-shaped error and the work is
cancelled (store reads already running in a worker thread finish on their own).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.security import send_json


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

        try:
            await asyncio.wait_for(self.app(scope, receive, hold), self.seconds)
        except TimeoutError:
            await send_json(send, 504, {"data": None, "errors": [{
                "message": f"query took longer than the {self.seconds:g} s limit; "
                           "narrow it (a time window, 'first', 'limit', fewer hops)",
                "extensions": {"code": "TIMEOUT"}}]})
            return
        for message in held:
            await send(message)
