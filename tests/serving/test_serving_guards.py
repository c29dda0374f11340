"""Abuse is refused with a clear error and the server stays up."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from graphql import GraphQLSchema, parse
from graphql.language import DocumentNode, Node, SelectionNode, Visitor, visit
from strawberry.schema.schema import validate_document

from fleetgraph.core.errors import ConfigError
from fleetgraph.graph_model.records import EdgeRecord, NodeRecord
from fleetgraph.serving import documents, guards
from fleetgraph.serving.app import create_app
from fleetgraph.serving.guards import DEFAULT_LIMITS, Limits, check_document
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.schema import build_schema
from fleetgraph.serving.security import RoleGate
from fleetgraph.serving.shape import ShapeMeter
from fleetgraph.storage.base import Direction, TimeWindow
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
    # The 504 goes out at the limit while a read may still be sleeping in its worker
    # thread (a thread cannot be cancelled). Wait longer than the 8 reads would take
    # (8 x 0.25 s) and count: the walk stopped at its first read past the deadline
    # (0.3 s + grace), so at most 3 of the 8 ran (fewer on a loaded machine).
    time.sleep(8 * 0.25 + 0.5)
    assert slow.calls["neighbours"] <= 3, slow.calls


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


# Documents whose walk used to be exponential (or endless): each check is linear now.

CYCLE = "query { ...A } fragment A on Query { ...A ...A }"  # the 48-byte hang of issue 8


def fragment_dag(levels: int, leaf: str = "__typename") -> str:
    """Each fragment spreads the next twice: 2**levels copies of ``leaf`` once expanded."""
    return ("query { ...F0 } " + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}"
                                         for i in range(levels))
            + f" fragment F{levels} on Query {{ {leaf} }}")


def deep_fragments(levels: int, branches: tuple[str, ...] = ("racks", "cdus")) -> str:
    """A node, then ``levels`` fragments each two fields deeper, each spread once
    per branch."""
    return ('{ node(id: "site:s1") { ...F0 } } '
            + " ".join(f"fragment F{i} on Site {{ "
                       + " ".join(f"{b} {{ site {{ ...F{i + 1} }} }}" for b in branches) + " }"
                       for i in range(levels))
            + f" fragment F{levels} on Site {{ id }}")


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema()._schema


def check(schema: GraphQLSchema, query: str, limits: Limits = DEFAULT_LIMITS) -> set[str]:
    return {e.extensions["code"] for e in check_document(schema, parse(query), limits)
            if e.extensions}


def selections(query: str) -> int:
    """Fields, inline fragments and spreads in the document, each counted once."""
    counted = [0]

    class Count(Visitor):
        def enter(self, node: Node, *_: object) -> None:
            counted[0] += isinstance(node, SelectionNode)

    visit(parse(query), Count())
    return counted[0]


@pytest.fixture
def meters(monkeypatch: pytest.MonkeyPatch) -> list[ShapeMeter]:
    """The meters check_document builds, to read how many selections each visited."""
    made: list[ShapeMeter] = []

    class Recording(ShapeMeter):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(guards, "ShapeMeter", Recording)
    return made


def test_a_fragment_that_spreads_itself_is_refused_before_any_walk(
    fleet: CountingStore, schema: GraphQLSchema, meters: list[ShapeMeter]
) -> None:
    assert len(CYCLE) == 48
    assert check(schema, CYCLE) == {"FRAGMENT_CYCLE"}
    assert meters == []  # refused while ordering the fragments, before measuring any
    longer = ("query { ...A } fragment A on Query { node(id: \"x\") { ...B } } "
              "fragment B on Node { ... on Site { racks { ...C } } } fragment C on Rack { ...A }")
    errors = check_document(schema, parse(longer), DEFAULT_LIMITS)
    assert [e.message.split(";")[0] for e in errors] == [
        "fragment 'A' spreads itself (A -> B -> C -> A)"]
    assert len(errors[0].locations or []) == 3  # the three spreads of the cycle
    response = ask(create_app(fleet), CYCLE)
    assert response.status_code == 200
    assert codes(response) == {"FRAGMENT_CYCLE"}
    assert fleet.calls.total() == 0


@pytest.mark.parametrize("levels", [4, 8, 12, 16, 22])
def test_fragment_dags_are_measured_once_per_selection(
    schema: GraphQLSchema, meters: list[ShapeMeter], levels: int
) -> None:
    query = fragment_dag(levels)
    assert check(schema, query, Limits(max_cost=2**levels, max_merge_pairs=10**30)) == set()
    assert check(schema, query, Limits(max_cost=2**levels - 1, max_merge_pairs=10**30)) == {
        "QUERY_TOO_EXPENSIVE"}  # the cost is that of the expanded query: 2**levels fields
    # each selection of the document visited once (it was 2**levels walks of the leaf)
    assert {m.visits for m in meters} == {selections(query)} == {2 * levels + 2}


@pytest.mark.parametrize("levels", [7, 8, 12])
def test_depth_counts_through_fragments(
    schema: GraphQLSchema, meters: list[ShapeMeter], levels: int
) -> None:
    query = deep_fragments(levels)
    refused = check(schema, query, Limits(max_cost=10**30, max_merge_pairs=10**30))
    assert ("QUERY_TOO_DEEP" in refused) == (1 + 2 * levels > 16)
    assert meters[0].visits == selections(query) == 6 * levels + 3


def test_too_deep_through_fragments_over_http(fleet: CountingStore) -> None:
    response = ask(create_app(fleet, limits=Limits(max_cost=10**30, max_merge_pairs=10**30)),
                   deep_fragments(8, ("racks",)))
    assert codes(response) == {"QUERY_TOO_DEEP"}
    assert "exceeds maximum operation depth of 16: its fields nest 17 deep" in errors(response)
    response = ask(create_app(fleet, limits=Limits(max_cost=10**30, max_merge_pairs=10**30)),
                   deep_fragments(7, ("racks",)))
    assert response.json()["data"]["node"]["racks"], response.text


def test_aliases_count_each_time_their_fragment_is_spread(schema: GraphQLSchema) -> None:
    limits = Limits(max_merge_pairs=10**9)
    assert check(schema, fragment_dag(5, "a: __typename"), limits) == set()  # 32 aliases
    errors = check_document(schema, parse(fragment_dag(6, "a: __typename")), limits)
    assert [(e.message, e.extensions) for e in errors] == [
        ("64 aliases found. Allowed: 32", {"code": "TOO_MANY_ALIASES"})]


def test_repeated_fields_are_refused_before_graphql_core_compares_them(
    fleet: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated: list[DocumentNode] = []
    real = validate_document

    def recording(schema: GraphQLSchema, document: DocumentNode, *rules: Any) -> Any:
        validated.append(document)
        return real(schema, document, *rules)

    monkeypatch.setattr("fleetgraph.serving.documents.validate_document", recording)
    flat = "{ " + " ".join('node(id: "site:s1") { id }' for _ in range(440)) + " }"
    response = ask(create_app(fleet), flat)  # 9 KB, a second in OverlappingFieldsCanBeMerged
    assert codes(response) == {"TOO_MANY_REPEATED_FIELDS"}
    assert "select each field once" in errors(response)
    assert validated == []
    types = ("Site", "Rack", "Server", "Gpu", "Cdu", "PowerShelf", "Job", "Model")
    fine = '{ node(id: "site:s1") { ' + " ".join(
        f"... on {t} {{ id type origin {{ latest {{ source }} }} }}" for t in types) + " } }"
    assert ask(create_app(fleet), fine).json()["data"]["node"]["id"] == "site:s1"
    assert len(validated) == 1


def test_documents_with_many_operations_are_refused(fleet: CountingStore) -> None:
    many = " ".join(f"query Q{i} {{ __typename }}" for i in range(11))
    response = request(create_app(fleet), "POST", "/graphql",
                       json={"query": many, "operationName": "Q0"})
    assert codes(response) == {"TOO_MANY_OPERATIONS"}
    few = " ".join(f"query Q{i} {{ __typename }}" for i in range(10))
    response = request(create_app(fleet), "POST", "/graphql",
                       json={"query": few, "operationName": "Q0"})
    assert response.json()["data"] == {"__typename": "Query"}
    for name, message in (("Q99", "no operation named 'Q99'"), (None, "name the one to run")):
        response = request(create_app(fleet), "POST", "/graphql",
                           json={"query": few, "operationName": name})
        assert response.status_code == 200  # a GraphQL error, not strawberry's bare 400 text
        assert codes(response) == {"UNKNOWN_OPERATION"}
        assert message in errors(response)


def test_documents_are_parsed_and_validated_off_the_event_loop(
    fleet: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: dict[str, str] = {}
    for step in ("parse_document", "validate"):
        real = getattr(documents, step)

        def record(*args: object, step: str = step, real: object = real) -> object:
            threads[step] = threading.current_thread().name
            return real(*args)  # type: ignore[operator]

        monkeypatch.setattr(documents, step, record)
    assert ask(create_app(fleet), NODE).json()["data"] == {"node": {"id": "site:s1"}}
    assert threads.keys() == {"parse_document", "validate"}
    assert all(name.startswith("graphql-documents") for name in threads.values()), threads
    response = ask(create_app(fleet), "{ node(id: ")
    assert codes(response) == {"GRAPHQL_PARSE_FAILED"}
    assert "Syntax Error" in errors(response)
