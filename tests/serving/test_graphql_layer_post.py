"""The POST fast path of serving/app.py (FleetGraphQL.answer_post) against strawberry's
own view on the same requests: the same status, headers and body, request by request.

Each request is sent to two apps over the same store, one with the fast path and one
with every request through strawberry's view (``fast_post = False``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from fleetgraph.serving.app import FleetGraphQL, create_app
from fleetgraph.serving.instrumentation import CountingStore

TOKENS = {"ops-token": "ops", "sched-token": "scheduler", "audit-token": "auditor"}
NODE = 'query($id: ID!) { node(id: $id) { id ... on Rack { status cdus { id } } } }'

# (token, body, extra headers): what a client may send, the odd cases included
REQUESTS: list[tuple[str | None, Any, dict[str, str]]] = [
    ("ops-token", {"query": NODE, "variables": {"id": "rack:s1-r1"}}, {}),
    ("ops-token", {"query": NODE, "variables": {"id": "rack:nope"}}, {}),
    ("ops-token", {"query": NODE, "variables": {"id": 5}}, {}),
    ("ops-token", {"query": NODE}, {}),  # a variable missing
    ("ops-token", {"query": NODE, "variables": None, "operationName": None}, {}),
    ("ops-token", {"query": "{ node(id: \"site:s1\") { id "}, {}),  # syntax error
    ("ops-token", {"query": "{ nodez { id } }"}, {}),  # validation error
    ("ops-token", {"query": "query A { a: node(id: \"site:s1\") { id } } "
                            "query B { b: node(id: \"site:s2\") { id } }",
                   "operationName": "B"}, {}),
    ("ops-token", {"query": "query A { node(id: \"site:s1\") { id } } "
                            "query B { node(id: \"site:s2\") { id } }"}, {}),  # which one?
    ("ops-token", {"query": "query A { node(id: \"site:s1\") { id } }",
                   "operationName": "C"}, {}),
    ("ops-token", {"query": "mutation { node(id: \"site:s1\") { id } }"}, {}),
    ("ops-token", {"query": "subscription { node(id: \"site:s1\") { id } }"}, {}),
    ("ops-token", {"query": ""}, {}),
    ("ops-token", {"query": "{ __typename }", "extensions": {"persisted": 1}}, {}),
    ("ops-token", {"query": "{ __typename }", "extensions": "no"}, {}),
    ("ops-token", {"query": "{ __typename }"}, {"accept": "multipart/mixed"}),
    ("ops-token", {"query": "{ __typename }"}, {"accept": "text/event-stream"}),
    ("ops-token", {"query": "{ __typename }"}, {"accept": "application/json"}),
    ("sched-token", {"query": '{ affectedJobs(componentId: "cdu:s1-c1") { truncated } }'},
     {}),  # a role refused a root field: 403
    ("audit-token", {"query": NODE, "variables": {"id": "rack:s1-r1"}}, {}),
    (None, {"query": "{ __typename }"}, {}),  # no token
    ("ops-token", [{"query": "{ __typename }"}], {}),  # a batch: the body guard's 400
]


def graphql_view(app: Any) -> FleetGraphQL:
    route = next(r for r in app.routes if getattr(r, "path", None) == "/graphql")
    view = route.app
    while not isinstance(view, FleetGraphQL):
        view = view.app
    return view


def answers(app: Any, production: bool) -> list[tuple[int, list[tuple[str, str]], Any]]:
    async def run() -> list[tuple[int, list[tuple[str, str]], Any]]:
        transport = httpx.ASGITransport(app=app)
        found = []
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as client:
            for token, body, headers in REQUESTS:
                if token is not None and production:
                    headers = {**headers, "authorization": f"Bearer {token}"}
                response = await client.post("/graphql", content=json.dumps(body),
                                             headers={"content-type": "application/json",
                                                      **headers})
                try:
                    content: Any = response.json()
                except ValueError:
                    content = response.text
                found.append((response.status_code, sorted(response.headers.items()), content))
        return found

    return asyncio.run(run())


@pytest.mark.parametrize("production", [False, True], ids=["development", "production"])
def test_a_post_gets_the_answer_strawberrys_view_gives(fleet: CountingStore,
                                                       production: bool) -> None:
    options: dict[str, Any] = {"production": True, "tokens": TOKENS} if production else {}
    fast = create_app(fleet, **options)
    ordinary = create_app(fleet, **options)
    graphql_view(ordinary).fast_post = False
    expected = answers(ordinary, production)
    got = answers(fast, production)
    for request, want, have in zip(REQUESTS, expected, got, strict=True):
        assert have == want, request
    statuses = {status for status, _, _ in expected}
    assert {200, 400}.issubset(statuses)  # the cases reach both kinds of answer
    if production:
        assert {401, 403}.issubset(statuses)


def test_the_fast_path_answers_a_guarded_post_and_leaves_a_get_to_strawberry(
        fleet: CountingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(fleet)
    view = graphql_view(app)
    taken: list[str] = []
    answer_post = view.answer_post

    async def counted(*args: Any) -> None:
        taken.append("fast")
        await answer_post(*args)

    monkeypatch.setattr(view, "answer_post", counted)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as client:
            post = await client.post("/graphql", json={"query": "{ __typename }"})
            get = await client.get("/graphql", params={"query": "{ __typename }"})
            return [post.status_code, get.status_code]

    assert asyncio.run(run()) == [200, 200]
    assert taken == ["fast"]
