"""Abuse is refused with a clear error and the server stays up."""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx
import pytest

from fleetgraph.errors import ConfigError
from graph_model.records import NodeRecord
from serving.app import create_app
from serving.guards import Limits
from serving.instrumentation import CountingStore
from tests.serving.test_serving_http import request

TOKENS = {"ops-token": "ops", "sched-token": "scheduler", "audit-token": "auditor"}
NODE = '{ node(id: "site:s1") { id } }'


def ask(app: object, query: str, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return request(app, "POST", "/graphql", json={"query": query}, headers=headers)


def errors(response: httpx.Response) -> str:
    return " ".join(e["message"] for e in response.json().get("errors") or [])


def test_too_deep_queries_are_refused(fleet: CountingStore) -> None:
    nested = "... on Site { racks { site { " * 9 + "id" + " } } }" * 9
    response = ask(create_app(fleet), '{ node(id: "site:s1") { ' + nested + " } }")
    assert "exceeds maximum operation depth" in errors(response)
    assert ask(create_app(fleet), NODE).json()["data"] == {"node": {"id": "site:s1"}}


def test_alias_bombs_are_refused(fleet: CountingStore) -> None:
    bomb = "{ " + " ".join(f'a{i}: node(id: "site:s1") {{ id }}' for i in range(100)) + " }"
    assert "aliases found" in errors(ask(create_app(fleet), bomb))


def test_huge_pages_are_refused(fleet: CountingStore) -> None:
    response = ask(create_app(fleet), '{ nodes(type: "site", first: 100000) { items { id } } }')
    assert "too expensive" in errors(response) or "'first' must be" in errors(response)


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
    assert ask(create_app(fleet), NODE).status_code == 200


@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_and_bad_tokens_get_401(fleet: CountingStore, token: str | None) -> None:
    response = ask(create_app(fleet, tokens=TOKENS), NODE, token)
    assert response.status_code == 401
    assert "API token" in errors(response)


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


def test_production_hides_the_schema_and_needs_tokens(fleet: CountingStore) -> None:
    with pytest.raises(ConfigError):
        create_app(fleet, production=True)
    app = create_app(fleet, production=True, tokens=TOKENS)
    response = ask(app, "{ __schema { types { name } } }", "ops-token")
    assert "introspection" in errors(response).lower()
    assert ask(app, NODE, "ops-token").json()["data"] == {"node": {"id": "site:s1"}}
