"""Roles over HTTP, in-process: the attacks of issue 8 (items 2 and 3) are refused,
the matrix has a decision for every root field, type and edge type, and
docs/queries.md shows the matrix the code enforces."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.access import (
    EDGE_GROUPS,
    ROLE_EDGE_GROUPS,
    ROLES,
    ROOT_FIELDS,
    access_of,
    matrix_markdown,
    undecided_root_fields,
    undecided_types,
)
from fleetgraph.serving.app import create_app
from fleetgraph.serving.context import new_context
from fleetgraph.serving.instrumentation import CountingStore
from tests.serving.conftest import NOW, SCHEMA
from tests.serving.role_fleet import role_fleet_store
from tests.serving.test_serving_http import request

DOCS = Path(__file__).resolve().parents[2] / "docs" / "queries.md"
TOKENS = {"ops-token": "ops", "sched-token": "scheduler", "audit-token": "auditor"}
TOKEN = {role: token for token, role in TOKENS.items()}


@pytest.fixture
def store() -> Iterator[CountingStore]:
    with role_fleet_store() as fleet:
        counting = CountingStore(fleet)
        yield counting


@pytest.fixture
def app(store: CountingStore) -> Starlette:
    return create_app(store, tokens=TOKENS, clock=lambda: NOW)


def ask(app: Starlette, role: str, query: str, **payload: Any) -> httpx.Response:
    return request(app, "POST", "/graphql", json={"query": query, **payload},
                   headers={"authorization": f"Bearer {TOKEN[role]}"})


def forbidden(response: httpx.Response) -> list[str]:
    """The FORBIDDEN messages of an answer."""
    return [e["message"] for e in response.json().get("errors") or ()
            if e["extensions"]["code"] == "FORBIDDEN"]


# --- item 2: the role is judged on the document that runs ------------------------------

@pytest.mark.parametrize("name", ["query", "operationName", "variables"])
def test_a_get_repeating_a_graphql_parameter_is_refused(
    app: Starlette, store: CountingStore, name: str
) -> None:
    values = {"query": ['{ node(id: "site:s1") { id } }',
                        '{ modelHotness(modelId: "model:m1") { siteId } }'],
              "operationName": ["A", "B"], "variables": ["{}", '{"id": "site:s1"}']}
    params = [("query", values["query"][0])] if name != "query" else []
    params += [(name, value) for value in values[name]]
    response = request(app, "GET", "/graphql", params=params,
                       headers={"authorization": "Bearer audit-token"})
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert f"repeated GraphQL parameter '{name}'" in error["message"]
    assert store.calls.total() == 0


def test_over_get_the_role_is_judged_on_the_query_that_runs(app: Starlette) -> None:
    def get(query: str, **more: str) -> httpx.Response:
        return request(app, "GET", "/graphql", params={"query": query, **more},
                       headers={"authorization": "Bearer audit-token"})

    hot = '{ modelHotness(modelId: "model:m1") { siteId } }'
    assert get(hot).status_code == 403
    assert forbidden(get(hot)) == ["role 'auditor' may not read modelHotness; it may read "
                                   "auditBundle, dataResidency, dataResidencySummary, lineage, "
                                   "node"]
    two = 'query A { node(id: "site:s1") { id } } query B ' + hot
    assert get(two, operationName="A").json()["data"] == {"node": {"id": "site:s1"}}
    assert get(two, operationName="B").status_code == 403


# --- item 3: the same data is refused whatever the path ------------------------------

SCHEDULER_LINEAGE = [
    '{ traverse(start: "dataset:d1", steps: [{edgeType: "read", direction: IN}, '
    '{edgeType: "produced"}]) { items { id } } }',
    '{ path(fromId: "dataset:d1", toId: "artifact:sha256-a2", edgeTypes: ["read", '
    '"produced"]) { nodeIds } }',
    '{ node(id: "job:j1") { id neighbours(edgeType: "read") { toId } } }',
    '{ node(id: "job:j1") { ... on Job { inputs { id } } } }',
    '{ node(id: "artifact:sha256-a2") { ... on Artifact { producedBy { id } } } }',
    '{ node(id: "artifact:sha256-a2") { ... on Artifact { derivedFrom { id } } } }',
    '{ node(id: "job:j1") { ... on Job { user { name } } } }',
    '{ nodes(type: "user") { items { id } } }',
    '{ node(id: "dataset:d1") { origin { createdBy } } }',
]


@pytest.mark.parametrize("query", SCHEDULER_LINEAGE)
def test_the_scheduler_cannot_rebuild_lineage(app: Starlette, query: str) -> None:
    response = ask(app, "scheduler", query)
    assert response.status_code == 200
    messages = forbidden(response)
    assert messages and all("role 'scheduler' may not" in m for m in messages), response.text
    assert "it reads root fields" in messages[0]
    assert not leaked(response.json()["data"], {"dataset:d1", "artifact:sha256-a2",
                                                "user:u1", "job:j1", "job:j3"})


AUDITOR_HARDWARE = [
    '{ node(id: "site:s1") { ... on Site { racks { servers { jobs { id } } } } } }',
    '{ node(id: "site:s1") { neighbours(edgeType: "in_site", direction: IN) { from { id } } } }',
    '{ node(id: "rack:s1-r1") { id } }',
    '{ node(id: "server:s1-r1-n1") { ... on Server { jobs { id } } } }',
    '{ node(id: "job:j1") { ... on Job { servers { id } gpus { id } } } }',
    '{ node(id: "dataset:d1") { ... on Dataset { readBy { servers { id } } } } }',
    '{ lineage(id: "dataset:d1", direction: DOWN) { nodes { node { ... on Job { '
    'servers { id } } } } } }',
]


@pytest.mark.parametrize("query", AUDITOR_HARDWARE)
def test_the_auditor_cannot_walk_into_the_hardware(app: Starlette, query: str) -> None:
    response = ask(app, "auditor", query)
    assert response.status_code == 200
    messages = forbidden(response)
    assert messages and all("role 'auditor' may not" in m for m in messages), response.text
    assert not leaked(response.json()["data"], {"rack:s1-r1", "server:s1-r1-n1",
                                                "server:s1-r1-n2", "gpu:s1-r1-n1-g0"})


def leaked(data: Any, ids: set[str]) -> set[str]:
    """Which of ``ids`` an answer holds."""
    if isinstance(data, dict):
        return set().union(*(leaked(v, ids) for v in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(leaked(v, ids) for v in data)) if data else set()
    return {data} & ids if isinstance(data, str) else set()


@pytest.mark.parametrize(("role", "query"), [
    ("auditor", 'query { ...F } fragment F on Query { a: node(id: "site:s1") { ... on Site '
                '{ r: racks { id } } } }'),
    ("auditor", '{ n: node(id: "rack:s1-r1") { ...R } } fragment R on Rack { id status }'),
    ("auditor", '{ node(id: "job:j1") { ... on Job { ... on Node { '
                'x: neighbours(edgeType: "ran_on") { toId } } } } }'),
    ("scheduler", 'query Q($e: String!) { node(id: "job:j1") { neighbours(edgeType: $e) '
                  '{ toId } } }'),
    ("scheduler", 'query ($s: [TraverseStep!]!) { traverse(start: "dataset:d1", steps: $s) '
                  '{ items { id } } }'),
])
def test_fragments_aliases_and_variables_do_not_get_around_the_grant(
    app: Starlette, role: str, query: str
) -> None:
    variables = {"e": "read", "s": [{"edgeType": "read", "direction": "IN"}]}
    used = {k: v for k, v in variables.items() if f"${k}" in query}
    response = ask(app, role, query, variables=used)
    assert forbidden(response), response.text
    assert not leaked(response.json()["data"], {"rack:s1-r1", "job:j1", "job:j3"})


@pytest.mark.parametrize(("role", "query"), [
    ("auditor", '{ x: placement(request: {gpus: 1}) { at } }'),
    ("auditor", 'query { ... on Query { ...P } } fragment P on Query { blastRadius('
                'componentId: "cdu:s1-c1") { truncated } }'),
    ("scheduler", '{ lineage(id: "dataset:d1", direction: DOWN) @skip(if: true) { truncated } '
                  'node(id: "site:s1") { id } }'),
])
def test_a_root_field_out_of_the_grant_refuses_the_whole_operation(
    app: Starlette, store: CountingStore, role: str, query: str
) -> None:
    response = ask(app, role, query)
    assert response.status_code == 403
    assert response.json()["data"] is None
    assert forbidden(response)
    assert store.calls.total() == 0


@pytest.mark.parametrize(("role", "query", "expected"), [
    ("auditor", '{ node(id: "job:j1") { ... on Job { site { jurisdiction } user { name } '
                'inputs { id } outputs { id } } origin { createdBy } } }',
     {"site": {"jurisdiction": "eu"}, "user": {"name": "ada"}, "inputs": [{"id": "dataset:d1"}],
      "outputs": [{"id": "artifact:sha256-a2"}]}),
    ("scheduler", '{ node(id: "server:s1-r1-n1") { ... on Server { rack { site { id } } '
                  'gpus { id } jobs { id } } } }',
     {"rack": {"site": {"id": "site:s1"}}, "gpus": [{"id": "gpu:s1-r1-n1-g0"}],
      "jobs": [{"id": "job:j1"}, {"id": "job:j4"}, {"id": "job:j6"}]}),
])
def test_a_role_reads_what_it_is_granted_through_nested_fields(
    app: Starlette, role: str, query: str, expected: dict[str, Any]
) -> None:
    response = ask(app, role, query)
    body = response.json()
    assert "errors" not in body, body
    node = body["data"]["node"]
    assert {k: node[k] for k in expected} == expected


def test_a_refused_field_does_not_break_its_siblings(store: CountingStore) -> None:
    """graphql-core cancels the siblings of a failed field; a sibling waiting on a shared
    load must not see a CancelledError (serving.loaders.BatchLoader)."""
    query = ('{ node(id: "server:s1-r1-n1") { ... on Server { jobs { id user { id } '
             'application { id } servers { id rack { id site { id } } } } rack { id site { id '
             'racks { id } } } } } }')
    for _ in range(10):
        context = new_context(store, clock=lambda: NOW, role="scheduler")
        result = asyncio.run(SCHEMA.execute(query, context_value=context))
        assert result.errors and all(e.extensions and e.extensions["code"] == "FORBIDDEN"
                                     for e in result.errors)


def test_a_request_without_a_role_reads_nothing(store: CountingStore) -> None:
    context = new_context(store, role=None)
    result = asyncio.run(SCHEMA.execute('{ node(id: "site:s1") { id } }', context_value=context))
    assert result.data is None
    assert result.errors and "role 'none' may not read node" in result.errors[0].message


# --- the matrix -------------------------------------------------------------------------

def test_every_root_field_and_type_has_a_grant_decision() -> None:
    schema = SCHEMA._schema
    assert undecided_root_fields(schema) == [], "add them to serving.access.ROOT_FIELDS"
    assert undecided_types(schema) == [], "decide who reads them in serving.access"
    assert schema.query_type is not None
    assert sorted(ROOT_FIELDS.keys() - schema.query_type.fields.keys()) == []
    assert all(roles <= set(ROLES) for roles in ROOT_FIELDS.values())


def test_the_edge_groups_share_out_every_edge_type_of_the_graph_model() -> None:
    grouped = [e for edges in EDGE_GROUPS.values() for e in edges]
    assert sorted(grouped) == sorted(FLEET.edges)
    assert all(groups <= EDGE_GROUPS.keys() for groups in ROLE_EDGE_GROUPS.values())


def test_grants_follow_the_users_of_the_domain() -> None:
    ops, scheduler, auditor = (access_of(r) for r in ("ops", "scheduler", "auditor"))
    assert ops.node_types == set(FLEET.nodes) and ops.edge_types == set(FLEET.edges)
    assert {"read", "produced", "derived_from"}.isdisjoint(scheduler.edge_types)
    assert {"ran_on", "in_site", "cooled_by", "had_fault"} <= scheduler.edge_types
    assert {"rack", "server", "gpu", "cdu", "power_shelf", "fault"}.isdisjoint(auditor.node_types)
    assert {"dataset", "job", "site", "user", "application"} <= auditor.node_types
    assert auditor.provenance and not scheduler.provenance


def test_the_docs_show_the_matrix_the_code_enforces() -> None:
    text = DOCS.read_text()
    table = matrix_markdown(SCHEMA._schema)
    assert table in text, ("docs/queries.md's role table is not the code's; paste "
                           "fleetgraph.serving.access.matrix_markdown(build_schema()._schema):\n"
                           + table)
