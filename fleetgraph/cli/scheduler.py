"""``fleetgraph scheduler``: place pending jobs, write their events to a log.

    fleetgraph scheduler --url http://127.0.0.1:8000/graphql \\
        --requests pending.jsonl --out scheduled.avro

Prints one JSON line per request (placed or not); the ``submitted`` and
``started`` events are appended to ``--out``, an event log the embedded
pipeline ingests (``fleetgraph ingest``). The API token, when the server wants
one, comes from ``--token`` or ``FLEETGRAPH_CLIENT_TOKEN`` (one of the server's
``FLEETGRAPH_API_TOKENS`` keys; the old name ``FLEETGRAPH_API_TOKEN`` still works,
with a warning). The client itself is
fleetgraph/clients/scheduler/.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import httpx

DEFAULT_CANDIDATES = 20  # fleetgraph.clients.scheduler.client.DEFAULT_CANDIDATES


async def schedule_file(url: str, requests: Path, out: Path, *, token: str | None = None,
                        candidates: int = DEFAULT_CANDIDATES, timeout_s: float = 30.0,
                        transport: httpx.AsyncBaseTransport | None = None) -> int:
    """Schedule every request of ``requests``, printing one JSON line each; ``token``
    defaults to ``FLEETGRAPH_CLIENT_TOKEN``; ``transport`` is httpx's (tests pass an ASGI
    transport to talk to the app in-process). The number of requests."""
    import httpx

    from fleetgraph.clients.scheduler.client import (
        EventLogPublisher,
        PlacementClient,
        Scheduler,
        read_requests,
        token_from_environment,
    )

    pending = read_requests(requests)
    token = token or token_from_environment()
    with EventLogPublisher(out) as publisher:
        async with httpx.AsyncClient(timeout=timeout_s, transport=transport) as http:
            scheduler = Scheduler(PlacementClient(http, url, token=token), publisher,
                                  candidates=candidates)
            for request in pending:
                decision = await scheduler.schedule(request)
                click.echo(json.dumps(decision.summary()))
    return len(pending)


@click.command()
@click.option("--url", required=True,
              help="The GraphQL endpoint, e.g. http://127.0.0.1:8000/graphql.")
@click.option("--requests", "requests_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Pending job requests, JSON lines.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Event log to append the events to.")
@click.option("--token", default=None, help="The client's API token, one of the server's "
              "FLEETGRAPH_API_TOKENS keys [default: $FLEETGRAPH_CLIENT_TOKEN].")
@click.option("--candidates", type=int, default=DEFAULT_CANDIDATES, show_default=True,
              help="Candidate sites to ask for first.")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="HTTP timeout, seconds.")
def scheduler(url: str, requests_path: Path, out: Path, token: str | None, candidates: int,
              timeout: float) -> None:
    """Place pending jobs with fleetgraph's placement query and write their jobs events
    (submitted, started) to an event log."""
    from fleetgraph.clients.scheduler.client import SchedulerError

    try:
        asyncio.run(schedule_file(url, requests_path, out, token=token, candidates=candidates,
                                  timeout_s=timeout))
    except SchedulerError as exc:
        click.echo(f"scheduler: {exc}", err=True)
        sys.exit(1)
