"""GraphQL fuzzing against a real `fleetgraph serve` (production mode, tokens, loopback).

A few hundred seeded requests (tests/drills/graphql_documents.py: valid
documents built from the schema with variables, directives, aliases and
fragments; broken ones; fragment cycles and DAGs, deep nesting, repeated
fields, alias and operation floods; other roles) are sent four at a time
while ``/healthz`` is polled. No answer is a 500 or an unexpected error, none
takes longer than the request deadline + 1 s, and ``/healthz`` always answers.
Set FLEETGRAPH_FUZZ_SEED to replay another run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from fleetgraph.serving.schema import build_schema
from tests.drills.graphql_documents import DocumentFuzzer, Request
from tests.drills.live_server import LiveServer, build_fleet, live_server

DEADLINE_S = 2.0
REQUESTS = 300
SEED = int(os.environ.get("FLEETGRAPH_FUZZ_SEED", "8"))
STATUSES = {200, 400, 403, 413, 504}  # 403: a role reads what it may not


@dataclass
class Answer:
    request: Request
    status: int
    seconds: float
    codes: set[str]
    has_data: bool


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    build_fleet(data_dir, 3, 2.0)
    with live_server(data_dir, query_timeout_s=str(DEADLINE_S)) as running:
        yield running


def fleet_ids(server: LiveServer) -> list[str]:
    ids = []
    for node_type in ("site", "rack", "server", "gpu", "cdu", "job", "model", "artifact"):
        response = httpx.post(server.url, timeout=10, headers={
            "authorization": "Bearer ops-token"}, json={
            "query": f'{{ nodes(type: "{node_type}", first: 3) {{ items {{ id }} }} }}'})
        nodes = (response.json().get("data") or {}).get("nodes") or {"items": []}
        ids += [item["id"] for item in nodes["items"]]
    return ids


async def _send(client: httpx.AsyncClient, server: LiveServer, request: Request) -> Answer:
    headers = {"authorization": f"Bearer {request.token}"}
    start = time.monotonic()
    if request.get:
        response = await client.get(server.url, params=request.params(), headers=headers)
    else:
        response = await client.post(server.url, json=request.payload(), headers=headers)
    seconds = time.monotonic() - start
    body = response.json() if response.status_code != 500 else {}
    codes = {e.get("extensions", {}).get("code", "NO CODE") for e in body.get("errors") or []}
    return Answer(request, response.status_code, seconds, codes, bool(body.get("data")))


async def _fuzz(server: LiveServer, requests: list[Request]) -> tuple[list[Answer], list[str]]:
    health_failures: list[str] = []
    done = asyncio.Event()
    limit = asyncio.Semaphore(4)
    async with httpx.AsyncClient(timeout=DEADLINE_S + 1) as client:

        async def poll_health() -> None:
            while not done.is_set():
                try:
                    answer = await client.get(server.health_url)
                    if answer.text != "ok":
                        health_failures.append(answer.text[:200])
                except httpx.HTTPError as error:
                    health_failures.append(repr(error))
                await asyncio.sleep(0.1)

        async def send(request: Request) -> Answer:
            async with limit:
                return await _send(client, server, request)

        health = asyncio.create_task(poll_health())
        answers = await asyncio.gather(*(send(r) for r in requests))
        done.set()
        await health
    return list(answers), health_failures


def test_fuzzed_documents_never_break_the_server(server: LiveServer) -> None:
    fuzzer = DocumentFuzzer(build_schema()._schema, fleet_ids(server), SEED)
    requests = fuzzer.requests(REQUESTS)
    answers, health_failures = asyncio.run(_fuzz(server, requests))

    def show(answer: Answer) -> str:
        return (f"[{answer.request.kind}] {answer.status} {answer.seconds:.1f}s {answer.codes} "
                f"{answer.request.payload()}"[:600])

    bad = [show(a) for a in answers if a.status not in STATUSES
           or "INTERNAL_SERVER_ERROR" in a.codes or "NO CODE" in a.codes]
    assert not bad, "\n".join(bad)
    slow = [show(a) for a in answers if a.seconds > DEADLINE_S + 1]
    assert not slow, "\n".join(slow)
    assert not health_failures, health_failures
    server.assert_alive()
    assert "Traceback" not in server.log_tail(1_000_000), server.log_tail()
    # the run reached both sides: answered queries and each kind of refusal
    codes = Counter(code for a in answers for code in a.codes)
    assert sum(a.has_data and not a.codes for a in answers) >= REQUESTS // 20, codes
    for code in ("GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "FRAGMENT_CYCLE",
                 "TOO_MANY_REPEATED_FIELDS", "QUERY_TOO_DEEP", "TOO_MANY_ALIASES"):
        assert codes[code] > 0, codes
