"""GraphQL abuse drill against a real `fleetgraph serve` over loopback.

Each abuse is refused with a clear error (status, stable ``extensions.code``,
message), and after each the same server process still answers a normal
query. tests/serving/test_serving_guards.py checks each guard in-process; this
drill is about the live server (uvicorn, production mode, tokens from
FLEETGRAPH_* settings) staying up.

The slow query is 32 placements at a given instant (the whole-fleet path) over the
20-site fleet (several seconds of work) against a 1 s FLEETGRAPH_QUERY_TIMEOUT_S;
the normal query takes a few milliseconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.drills.live_server import LiveServer, build_fleet, live_server

SITES = 20
TIMEOUT_S = "1"
NORMAL = '{ node(id: "site:s0001") { id ... on Site { racks { id } } } }'
# placement with an explicit `at` reads the whole fleet (at now it reads the site-state
# read model and is fast); an hour ago, within the simulated fleet's hours before now
AN_HOUR_AGO = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
SLOW = "{ " + " ".join(f"p{i}: placement(request: {{gpus: 8, at: \"{AN_HOUR_AGO}\"}}) "
                       "{ candidates(first: 10) { siteId score } }" for i in range(32)) + " }"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("abuse")
    build_fleet(data_dir, SITES, 12.0)
    with live_server(data_dir, query_timeout_s=TIMEOUT_S) as running:
        assert_answers_normally(running)
        yield running


def post(server: LiveServer, query: str | None = None, *, token: str | None = "ops-token",
         variables: dict[str, object] | None = None, content: bytes | None = None,
         content_type: str = "application/json") -> httpx.Response:
    headers = {"content-type": content_type}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if content is None:
        content = json.dumps({"query": query, "variables": variables}).encode()
    return httpx.post(server.url, content=content, headers=headers, timeout=30)


def assert_answers_normally(server: LiveServer) -> None:
    server.assert_alive()
    response = post(server, NORMAL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["node"]["id"] == "site:s0001"
    assert body["data"]["node"]["racks"]
    scheduler = post(server, '{ nodes(type: "site", first: 3) { items { id } } }',
                     token="sched-token")
    assert scheduler.status_code == 200, scheduler.text
    assert [n["id"] for n in scheduler.json()["data"]["nodes"]["items"]] == [
        "site:s0001", "site:s0002", "site:s0003"]


def nested(levels: int) -> str:
    return "... on Site { racks { site { " * levels + "id" + " } } }" * levels


async def _streamed(size: int) -> AsyncIterator[bytes]:  # no Content-Length: chunked
    yield b'{"query": "{ node(id: \\"'
    for _ in range(size // 10_000):
        yield b"x" * 10_000
    yield b'\\") { id } }"}'


async def _post_streamed(server: LiveServer) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(server.url, content=_streamed(1_000_000), headers={
            "content-type": "application/json", "authorization": "Bearer ops-token"})


@dataclass(frozen=True)
class Abuse:
    name: str
    send: Callable[[LiveServer], httpx.Response]
    status: int
    code: str
    message: str


ABUSES = [
    Abuse("too deep",
          lambda s: post(s, '{ node(id: "site:s0001") { ' + nested(9) + " } }"),
          200, "QUERY_TOO_DEEP", "exceeds maximum operation depth of 16"),
    Abuse("alias bomb",
          lambda s: post(s, "{ " + " ".join(f'a{i}: node(id: "site:s0001") {{ id }}'
                                            for i in range(200)) + " }"),
          200, "TOO_MANY_ALIASES", "200 aliases found. Allowed: 32"),
    Abuse("huge page",
          lambda s: post(s, '{ traverse(start: "site:s0001", steps: [{edgeType: "in_site", '
                            'direction: IN}], first: 1000000) { items { id } } }'),
          200, "QUERY_TOO_EXPENSIVE", "query too expensive"),
    Abuse("page past the maximum",
          lambda s: post(s, '{ nodes(type: "gpu", first: 5000) { endCursor } }'),
          200, "BAD_USER_INPUT", "'first' must be between 1 and 1000, got 5000"),
    Abuse("page size in a variable",
          lambda s: post(s, 'query($n: Int!) { nodes(type: "gpu", first: $n) { endCursor } }',
                         variables={"n": 10**9}),
          200, "BAD_USER_INPUT", "'first' must be between 1 and 1000"),
    Abuse("slow past the time limit", lambda s: post(s, SLOW),
          504, "TIMEOUT", f"longer than the {TIMEOUT_S} s limit"),
    Abuse("token flood",
          lambda s: post(s, '{ node(id: "site:s0001") { ' + "id " * 6000 + "} }"),
          200, "TOO_MANY_TOKENS", "more than 4000 tokens"),
    Abuse("too many traverse steps",
          lambda s: post(s, 'query($steps: [TraverseStep!]!) { traverse(start: "site:s0001", '
                            "steps: $steps) { total } }",
                         variables={"steps": [{"edgeType": "in_site"}] * 200}),
          200, "BAD_USER_INPUT", "a traversal takes 1 to 8 steps, got 200"),
    Abuse("steps flood in variables",
          lambda s: post(s, 'query($steps: [TraverseStep!]!) { traverse(start: "site:s0001", '
                            "steps: $steps) { total } }",
                         variables={"steps": [{"edgeType": "in_site"}] * 4000}),
          400, "BAD_REQUEST", "'variables' hold 4,000 list items; at most 1,000"),
    Abuse("deeply nested JSON",
          lambda s: post(s, content=b'{"query": "{ __typename }", "variables": {"a": '
                         + b"[" * 60_000 + b"]" * 60_000 + b"}}"),
          400, "BAD_REQUEST", "nested too deeply"),
    Abuse("missing token", lambda s: post(s, NORMAL, token=None),
          401, "UNAUTHENTICATED", "missing or unknown API token"),
    Abuse("wrong token", lambda s: post(s, NORMAL, token="ops-token-guessed"),
          401, "UNAUTHENTICATED", "missing or unknown API token"),
    Abuse("field forbidden to the scheduler",
          lambda s: post(s, '{ affectedJobs(componentId: "cdu:s0001-c1") { truncated } }',
                         token="sched-token"),
          403, "FORBIDDEN", "role 'scheduler' may not read affectedJobs"),
    Abuse("field forbidden to the auditor, through a fragment",
          lambda s: post(s, "query { ...P } fragment P on Query { placement(request: "
                            "{gpus: 8}) { excluded { siteId } } }", token="audit-token"),
          403, "FORBIDDEN", "role 'auditor' may not read placement"),
    Abuse("query repeated in a GET",
          lambda s: httpx.get(s.url, params=[("query", NORMAL), ("query", "{ __typename }")],
                              headers={"authorization": "Bearer audit-token"}, timeout=30),
          400, "BAD_REQUEST", "repeated GraphQL parameter 'query'"),
    Abuse("racks of a site, to the auditor", lambda s: post(s, NORMAL, token="audit-token"),
          200, "FORBIDDEN", "role 'auditor' may not follow edge type 'in_site'"),
    Abuse("introspection",
          lambda s: post(s, "{ __schema { queryType { name } } }"),
          200, "INTROSPECTION_DISABLED", "introspection has been disabled"),
    Abuse("introspection of one type",
          lambda s: post(s, '{ __type(name: "Site") { fields { name } } }'),
          200, "INTROSPECTION_DISABLED", "introspection has been disabled"),
    Abuse("GraphiQL",
          lambda s: httpx.get(s.url, headers={"accept": "text/html"}, timeout=30),
          404, "NOT_FOUND", "GraphiQL and introspection are off in production"),
    Abuse("malformed JSON", lambda s: post(s, content=b'{"query": "{ node(id: '),
          400, "BAD_REQUEST", "request body is not valid JSON"),
    Abuse("batched requests",
          lambda s: post(s, content=json.dumps([{"query": NORMAL}] * 50).encode()),
          400, "BAD_REQUEST", "batched requests are not accepted"),
    Abuse("not JSON",
          lambda s: post(s, content=NORMAL.encode(), content_type="application/graphql"),
          415, "UNSUPPORTED_MEDIA_TYPE", "send the request as JSON"),
    Abuse("body too large",
          lambda s: post(s, content=json.dumps(
              {"query": '{ node(id: "' + "x" * 2_000_000 + '") { id } }'}).encode()),
          413, "PAYLOAD_TOO_LARGE", "request body larger than the 131,072-byte limit"),
    Abuse("body too large, streamed without a length",
          lambda s: asyncio.run(_post_streamed(s)),
          413, "PAYLOAD_TOO_LARGE", "request body larger than the 131,072-byte limit"),
]


@pytest.mark.parametrize("abuse", ABUSES, ids=[a.name for a in ABUSES])
def test_abuse_is_refused_and_the_server_stays_up(server: LiveServer, abuse: Abuse) -> None:
    response = abuse.send(server)
    assert response.status_code == abuse.status, response.text[:500]
    errors = response.json()["errors"]
    assert abuse.code in {e["extensions"]["code"] for e in errors}, errors
    assert any(abuse.message in e["message"] for e in errors), errors
    assert_answers_normally(server)


def test_a_burst_of_slow_queries_times_out_and_the_server_stays_up(
    server: LiveServer,
) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30, headers={
                "authorization": "Bearer ops-token"}) as client:
            return list(await asyncio.gather(*(
                client.post(server.url, json={"query": SLOW}) for _ in range(6))))

    assert [r.status_code for r in asyncio.run(burst())] == [504] * 6
    assert_answers_normally(server)


def test_the_server_logged_no_crash(server: LiveServer) -> None:
    assert post(server, SLOW).status_code == 504
    assert_answers_normally(server)
    log = server.log_tail(1_000_000)
    assert '"POST /graphql HTTP/1.1" 504' in log
    assert "Traceback" not in log, log[-3000:]
