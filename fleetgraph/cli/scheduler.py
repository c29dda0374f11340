"""``python -m fleetgraph.clients.scheduler``: place pending jobs, write their events to a log.

    python -m fleetgraph.clients.scheduler --url http://127.0.0.1:8000/graphql \\
        --requests pending.jsonl --out scheduled.avro

Prints one JSON line per request (placed or not); the ``submitted`` and
``started`` events are appended to ``--out``, an event log the embedded
pipeline ingests (``fleetgraph ingest``). The API token, when the server wants
one, comes from ``--token`` or ``FLEETGRAPH_API_TOKEN``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

import httpx

from fleetgraph.clients.scheduler.client import (
    DEFAULT_CANDIDATES,
    EventLogPublisher,
    PlacementClient,
    Scheduler,
    SchedulerError,
    read_requests,
    token_from_environment,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fleetgraph.clients.scheduler",
        description="Place pending jobs with fleetgraph's placement query and write "
        "their jobs events (submitted, started) to an event log.",
    )
    parser.add_argument("--url", required=True, help="the GraphQL endpoint, e.g. "
                        "http://127.0.0.1:8000/graphql")
    parser.add_argument("--requests", required=True, help="pending job requests, JSON lines")
    parser.add_argument("--out", required=True, help="event log to append the events to")
    parser.add_argument("--token", default=None, help="API token (default: "
                        "$FLEETGRAPH_API_TOKEN)")
    parser.add_argument("--candidates", type=int, default=DEFAULT_CANDIDATES,
                        help="candidate sites to ask for first (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout, seconds")
    return parser.parse_args(argv)


async def run(
    args: argparse.Namespace, transport: httpx.AsyncBaseTransport | None = None
) -> int:
    """Schedule every request of ``args.requests``; ``transport`` is httpx's (tests pass
    an ASGI transport to talk to the app in-process)."""
    requests = read_requests(args.requests)
    token = args.token or token_from_environment()
    with EventLogPublisher(args.out) as publisher:
        async with httpx.AsyncClient(timeout=args.timeout, transport=transport) as http:
            scheduler = Scheduler(
                PlacementClient(http, args.url, token=token), publisher,
                candidates=args.candidates,
            )
            for request in requests:
                decision = await scheduler.schedule(request)
                print(json.dumps(decision.summary()), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except SchedulerError as exc:
        print(f"scheduler: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
