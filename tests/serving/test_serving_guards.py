"""Abuse is refused with a clear error and the server stays up."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from fleetgraph.errors import ConfigError
from graph_model.records import EdgeRecord, NodeRecord
from serving.app import create_app
from serving.guards import Limits
from serving.instrumentation import CountingStore
from serving.security import RoleGate
from storage.base import Direction, TimeWindow
from tests.serving.test_serving_http import request

TOKENS = {"ops-token": "ops", "sched-token": "scheduler", "audit-token": "auditor"}
NODE = '{ node(id: "site:s1") { id } }'


def ask(app: object, query: str, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return request(app, "POST", "/graphql", json={"query": query}, headers=headers)


def errors(response: httpx.Response) -> str:
    return " ".join(e["message"] for e in response.json().get("errors") or [])


def codes(response: httpx.Response) -> set[str]:
    return {e["extensions"]["code"] for e in response.json().get("errors") or []}


def test_too_deep_queries_are_refused(fleet: CountingStore) -> None:
    nested = "... on Site { racks { site { " * 9 + "id" + " } } }" * 9
    response = ask(create_app(fleet), '{ node(id: "site:s1") { ' + nested + " } }")
    assert "exceeds maximum operation depth" in errors(response)
    assert "QUERY_TOO_DEEP" in codes(response)
    assert ask(create_app(fleet), NODE).json()["data"] == {"node": {"id": "site:s1"}}


def test_alias_bombs_are_refused(fleet: CountingStore) -> None:
    bomb = "{ " + " ".join(f'a{i}: node(id: "site:s1") {{ id }}' for i in range(100)) + " }"
    response = ask(create_app(fleet), bomb)
    assert "aliases found" in errors(response)
    assert codes(response) == {"TOO_MANY_ALIASES"}


def test_token_floods_are_refused(fleet: CountingStore) -> None:
    flood = '{ node(id: "site:s1") { ' + "id " * 5000 + "} }"
    response = ask(create_app(fleet), flood)
    assert "more than 4000 tokens" in errors(response)
    assert codes(response) == {"TOO_MANY_TOKENS"}


def test_huge_pages_are_refused(fleet: CountingStore) -> None:
    response = ask(create_app(fleet), '{ nodes(type: "site", first: 1000000) { items { id } } }')
    assert "too expensive" in errors(response)
    assert codes(response) == {"QUERY_TOO_EXPENSIVE"}
    response = ask(create_app(fleet), '{ nodes(type: "site", first: 2000) { endCursor } }')
    assert "'first' must be between 1 and 1000" in errors(response)
    assert codes(response) == {"BAD_USER_INPUT"}


def test_expensive_fan_outs_are_refused_before_they_run(fleet: CountingStore) -> None:
    query = ('{ nodes(type: "site", first: 1000) { items { ... on Site { racks { servers '
             '{ gpus { jobs { id } } } } } } } }')
    fleet.reset()
    response = ask(create_app(fleet, limits=Limits(max_cost=100_000)), query)
    assert "too expensive" in errors(response)
    assert sum(fleet.calls.values()) == 0  # refused before touching the store


def test_slow_queries_time_out_and_the_server_answers_the_next(fleet: CountingStore) -> None:
    class Slow(CountingStore):
        def get_nodes(self, ids: Sequence[str]) -> dict[str, NodeRecord]:
            time.sleep(1.5)
            return super().get_nodes(ids)

    slow = create_app(Slow(fleet), limits=Limits(timeout_s=0.3))
    response = ask(slow, NODE)
    assert response.status_code == 504
    assert "limit" in errors(response)
    assert codes(response) == {"TIMEOUT"}
    assert ask(create_app(fleet), NODE).status_code == 200


def test_a_timed_out_query_stops_reading_the_store(fleet: CountingStore) -> None:
    class Slow(CountingStore):
        def neighbours(self, edge_type: str, ids: Sequence[str], direction: Direction,
                       window: TimeWindow | None = None) -> dict[str, list[EdgeRecord]]:
            time.sleep(0.25)
            return super().neighbours(edge_type, ids, direction, window)

    slow = Slow(fleet)
    steps = "[" + '{edgeType: "in_site", direction: IN}, {edgeType: "in_site"}, ' * 4 + "]"
    query = f'{{ traverse(start: "site:s1", steps: {steps}) {{ total }} }}'
    assert ask(create_app(slow), query).json()["data"]["traverse"]["total"] == 1  # 8 reads
    slow.reset()
    response = ask(create_app(slow, limits=Limits(timeout_s=0.3)), query)
    assert response.status_code == 504
    # the request returns once its worker threads are done: the walk stopped at the
    # first read past the deadline (0.3 s + grace) instead of making all 8
    assert 1 <= slow.calls["neighbours"] <= 3, slow.calls


@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_and_bad_tokens_get_401(fleet: CountingStore, token: str | None) -> None:
    response = ask(create_app(fleet, tokens=TOKENS), NODE, token)
    assert response.status_code == 401
    assert "API token" in errors(response)
    assert codes(response) == {"UNAUTHENTICATED"}


async def _echo(scope: object, receive: object, send: object) -> None:
    raise AssertionError("the role gate let a request without a token through")


def test_the_role_gate_wants_a_token_for_every_post() -> None:
    gate = RoleGate(_echo, TOKENS)  # type: ignore[arg-type]
    for body in ("{}", "not json", '{"query": 1}'):
        response = request(gate, "POST", "/graphql", content=body)
        assert response.status_code == 401, body


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code", "message"),
    [
        ('{"query": ', "application/json", 400, "BAD_REQUEST", "not valid JSON"),
        ('[{"query": "{ __typename }"}]', "application/json", 400, "BAD_REQUEST", "batched"),
        ('{"variables": {}}', "application/json", 400, "BAD_REQUEST", "no 'query'"),
        ('{"query": "{ __typename }", "variables": [1]}', "application/json", 400,
         "BAD_REQUEST", "'variables' must be"),
        ('{"query": "{ __typename }", "operationName": 3}', "application/json", 400,
         "BAD_REQUEST", "'operationName' must be"),
        ('{"query": "{ __typename }", "variables": {"a": ' + "[" * 50_000 + "]" * 50_000 + "}}",
         "application/json", 400, "BAD_REQUEST", "nested too deeply"),
        ('{"query": "{ __typename }", "variables": {"s": [' + ", ".join(["{}"] * 1001) + "]}}",
         "application/json", 400, "BAD_REQUEST", "1,001 list items; at most 1,000"),
        ("{ __typename }", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", "as JSON"),
        ('{"query": "{ node(id: \\"' + "x" * 200_000 + '\\") { id } }"}', "application/json",
         413, "PAYLOAD_TOO_LARGE", "byte limit"),
    ],
)
def test_bad_bodies_are_refused_before_the_token_check(
    fleet: CountingStore, content: str, content_type: str, status: int, code: str, message: str
) -> None:
    app = create_app(fleet, tokens=TOKENS)
    response = request(app, "POST", "/graphql", content=content,
                       headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert codes(response) == {code}
    assert message in errors(response)
    assert ask(app, NODE, "ops-token").json()["data"] == {"node": {"id": "site:s1"}}


def test_a_streamed_body_is_cut_at_the_limit(fleet: CountingStore) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        nonlocal sent
        yield b'{"query": "{ node(id: \\"'
        for _ in range(100):
            sent += 1
            yield b"x" * 10_000
        yield b'\\") { id } }"}'

    app = create_app(fleet, limits=Limits(max_body_bytes=50_000))
    response = request(app, "POST", "/graphql", content=chunks(),
                       headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert codes(response) == {"PAYLOAD_TOO_LARGE"}
    assert fleet.calls.total() == 0


@pytest.mark.parametrize(
    ("token", "query", "status"),
    [
        ("ops-token", '{ affectedJobs(componentId: "cdu:s1-c1") { truncated } }', 200),
        ("sched-token", '{ modelHotness(modelId: "model:m1") { siteId } }', 200),
        ("sched-token", '{ affectedJobs(componentId: "cdu:s1-c1") { truncated } }', 403),
        ("audit-token", NODE, 200),
        ("audit-token", '{ modelHotness(modelId: "model:m1") { siteId } }', 403),
        ("audit-token", 'query { ...F } fragment F on Query { nodes(type: "site") { '
                        'endCursor } }', 403),
    ],
)
def test_roles_read_only_their_fields(
    fleet: CountingStore, token: str, query: str, status: int
) -> None:
    response = ask(create_app(fleet, tokens=TOKENS), query, token)
    assert response.status_code == status, response.text
    if status == 403:
        assert "may not read" in errors(response)
        assert codes(response) == {"FORBIDDEN"}


def test_production_hides_the_schema_and_needs_tokens(fleet: CountingStore) -> None:
    with pytest.raises(ConfigError):
        create_app(fleet, production=True)
    app = create_app(fleet, production=True, tokens=TOKENS)
    response = ask(app, "{ __schema { types { name } } }", "ops-token")
    assert "introspection" in errors(response).lower()
    assert codes(response) == {"INTROSPECTION_DISABLED"}
    assert ask(app, NODE, "ops-token").json()["data"] == {"node": {"id": "site:s1"}}


def test_answering_errors_have_codes_and_bugs_are_masked_in_production(
    fleet: CountingStore,
) -> None:
    missing = ask(create_app(fleet), '{ affectedJobs(componentId: "cdu:s9-c9") { truncated } }')
    assert codes(missing) == {"NOT_FOUND"}
    assert codes(ask(create_app(fleet), '{ node(id: "bad id") { id } }')) == {"BAD_USER_INPUT"}

    class Broken(CountingStore):
        def get_nodes(self, ids: Sequence[str]) -> dict[str, NodeRecord]:
            raise RuntimeError("secret detail")

    app = create_app(Broken(fleet), production=True, tokens=TOKENS)
    response = ask(app, NODE, "ops-token")
    assert codes(response) == {"INTERNAL_SERVER_ERROR"}
    assert errors(response) == "Unexpected error."


def test_variables_of_a_get_are_bounded_too(fleet: CountingStore) -> None:
    app = create_app(fleet)
    query = 'query($s: [TraverseStep!]!) { traverse(start: "site:s1", steps: $s) { total } }'
    flood = json.dumps({"s": [{"edgeType": "in_site"}] * 1200})
    response = request(app, "GET", "/graphql", params={"query": query, "variables": flood})
    assert response.status_code == 400
    assert codes(response) == {"BAD_REQUEST"}
    assert "1,200 list items" in errors(response)
    fine = json.dumps({"s": [{"edgeType": "in_site", "direction": "IN"}]})
    response = request(app, "GET", "/graphql", params={"query": query, "variables": fine})
    assert response.json()["data"]["traverse"]["total"] > 0
