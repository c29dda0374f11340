"""The cost cuts of the GraphQL layer keep every guard: documents that passed every
check are kept and not parsed again, refused ones are judged afresh each time, the
role is judged on every request, and store reads run on the event loop only when
their kind has been cheap."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from functools import partial
from typing import Any

import httpx
import pytest
from graphql import parse

from fleetgraph.graph_model import FLEET
from fleetgraph.serving import documents
from fleetgraph.serving.app import create_app
from fleetgraph.serving.context import new_context
from fleetgraph.serving.deadline import DeadlineStore
from fleetgraph.serving.documents import DocumentCache
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.reads import StoreReads, check_inline_cut, size_class
from fleetgraph.serving.schema import build_schema
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.serving.conftest import NOW
from tests.serving.test_serving_http import request

TOKENS = {"ops-token": "ops", "sched-token": "scheduler", "audit-token": "auditor"}
AFFECTED = """query($id: ID!) { affectedJobs(componentId: $id) { items { jobId } } }"""
RACKS = """query($id: ID!) { node(id: $id) { ... on Cdu { racks { id } } } }"""


def post(app: object, query: str, variables: dict[str, Any] | None = None,
         token: str = "ops-token", operation: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"query": query, "variables": variables or {}}
    if operation is not None:
        body["operationName"] = operation
    return request(app, "POST", "/graphql", json=body,
                   headers={"authorization": f"Bearer {token}"})


def codes(response: httpx.Response) -> set[str]:
    return {e["extensions"]["code"] for e in response.json().get("errors") or []}


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The thread each parse and validation ran in, per step."""
    seen: dict[str, list[str]] = {"parse_document": [], "validate": []}
    for step in seen:
        real = getattr(documents, step)

        def record(*args: object, step: str = step, real: Any = real) -> object:
            seen[step].append(threading.current_thread().name)
            return real(*args)

        monkeypatch.setattr(documents, step, record)
    return seen


def test_a_repeated_document_is_parsed_and_validated_once(
    fleet: CountingStore, checks: dict[str, list[str]]
) -> None:
    app = create_app(fleet, clock=lambda: NOW, production=True, tokens=TOKENS)
    answers = [post(app, AFFECTED, {"id": cdu}).json()
               for cdu in ("cdu:s1-c1", "cdu:s1-c1", "cdu:s1-c2", "cdu:s2-c1")]
    assert answers[0] == answers[1]
    assert [i["jobId"] for i in answers[0]["data"]["affectedJobs"]["items"]] == [
        "job:j1", "job:j6", "job:j6", "job:j2"]
    assert all("errors" not in a for a in answers)
    # judged once, in a worker thread; the next requests ran the kept document
    assert checks == {"parse_document": [checks["parse_document"][0]],
                      "validate": [checks["validate"][0]]}
    assert all(t.startswith("graphql-documents") for ts in checks.values() for t in ts)
    fresh = create_app(fleet, clock=lambda: NOW, production=True, tokens=TOKENS)
    assert post(fresh, AFFECTED, {"id": "cdu:s1-c1"}).json() == answers[0]
    assert len(checks["validate"]) == 2  # a cache is its schema's: another app judges again


def test_a_kept_document_is_still_judged_for_each_role(
    fleet: CountingStore, checks: dict[str, list[str]]
) -> None:
    for first, then in (("ops-token", "sched-token"), ("sched-token", "ops-token")):
        app = create_app(fleet, clock=lambda: NOW, production=True, tokens=TOKENS)
        answers = [(token, post(app, AFFECTED, {"id": "cdu:s1-c1"}, token))
                   for token in (first, then, first, then)]
        for token, response in answers:
            if token == "ops-token":
                assert response.status_code == 200 and "errors" not in response.json()
            else:
                assert response.status_code == 403
                assert codes(response) == {"FORBIDDEN"}
    assert len(checks["validate"]) == 2  # once per app, whichever role asked first
    # a field the role may not read, inside a kept document, is refused every time
    app = create_app(fleet, clock=lambda: NOW, production=True, tokens=TOKENS)
    mixed = ('{ node(id: "site:s1") { id } '
             'lineage(id: "artifact:sha256-a1", direction: UP) { truncated } }')
    for _ in range(2):
        refused = post(app, mixed, token="sched-token")
        assert codes(refused) == {"FORBIDDEN"} and refused.json()["data"] is None
        assert post(app, mixed).json()["data"]["node"] == {"id": "site:s1"}


def test_refused_documents_are_judged_again_each_time(
    fleet: CountingStore, checks: dict[str, list[str]]
) -> None:
    app = create_app(fleet, clock=lambda: NOW, production=True, tokens=TOKENS)
    nested = "... on Site { racks { site { " * 9 + "id" + " } } }" * 9
    deep = '{ node(id: "site:s1") { ' + nested + " } }"
    introspection = "{ __schema { queryType { name } } }"
    unknown = '{ node(id: "site:s1") { nope } }'
    for _ in range(2):
        assert "QUERY_TOO_DEEP" in codes(post(app, deep))
        assert codes(post(app, introspection)) == {"INTROSPECTION_DISABLED"}
        assert codes(post(app, unknown)) == {"GRAPHQL_VALIDATION_FAILED"}
        assert codes(post(app, "{ node(id: ")) == {"GRAPHQL_PARSE_FAILED"}
    assert len(checks["parse_document"]) == 8
    assert len(checks["validate"]) == 6
    # introspection is refused in production only: each schema keeps its own verdicts
    development = create_app(fleet, clock=lambda: NOW)
    for _ in range(2):
        assert post(development, introspection).json()["data"] == {
            "__schema": {"queryType": {"name": "Query"}}}


def test_the_operation_name_is_part_of_the_verdict(fleet: CountingStore) -> None:
    app = create_app(fleet, clock=lambda: NOW)
    two = 'query A { node(id: "site:s1") { id } } query B { __typename }'
    for _ in range(2):
        assert post(app, two, operation="A").json() == {"data": {"node": {"id": "site:s1"}}}
        assert post(app, two, operation="B").json() == {"data": {"__typename": "Query"}}
        assert codes(post(app, two)) == {"UNKNOWN_OPERATION"}
        assert codes(post(app, two, operation="C")) == {"UNKNOWN_OPERATION"}


def test_long_documents_are_not_kept_and_are_parsed_off_the_event_loop(
    fleet: CountingStore, checks: dict[str, list[str]]
) -> None:
    app = create_app(fleet, clock=lambda: NOW)
    long = "{ " + "  " * documents.MAX_DOCUMENT_CHARS + 'node(id: "site:s1") { id } }'
    for _ in range(2):
        assert post(app, long).json() == {"data": {"node": {"id": "site:s1"}}}
    assert len(checks["parse_document"]) == len(checks["validate"]) == 2
    assert all(t.startswith("graphql-documents") for ts in checks.values() for t in ts)


def test_the_cache_is_bounded_and_keeps_the_most_recently_used() -> None:
    cache = DocumentCache(max_documents=2)
    for name in ("a", "b"):
        cache.put(name, parse(f"{{ {name}: __typename }}"))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", parse("{ c: __typename }"))
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None


def test_a_schema_keeps_at_most_its_bound_of_documents(fleet: CountingStore) -> None:
    schema = build_schema()
    [cache] = [e.keywords["cache"] for e in schema.extensions
               if isinstance(e, partial) and "cache" in e.keywords]
    app = create_app(fleet, clock=lambda: NOW, schema=schema)
    for i in range(documents.MAX_DOCUMENTS + 10):
        assert post(app, f"{{ a{i}: __typename }}").json() == {"data": {f"a{i}": "Query"}}
    assert len(cache) == documents.MAX_DOCUMENTS


def read_threads(reads: StoreReads, kind: str, times: int, bounded: bool = True) -> list[str]:
    async def run() -> list[str]:
        return [await reads.run(kind, lambda: threading.current_thread().name,
                                bounded=bounded)
                for _ in range(times)]

    return asyncio.run(run())


def test_reads_of_a_new_kind_run_in_a_thread_then_inline_when_cheap() -> None:
    main = threading.current_thread().name
    cheap = StoreReads(budget_s=float("inf"))
    threads = read_threads(cheap, "node", 3)
    assert threads[0] != main and threads[1:] == [main, main]
    assert (cheap.threaded, cheap.inline) == (1, 2)
    never = StoreReads(budget_s=0.0)
    assert main not in read_threads(never, "node", 3)
    assert (never.threaded, never.inline) == (3, 0)


def burn(seconds: float) -> None:
    """Use ``seconds`` of this thread's CPU time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_a_read_the_request_can_make_costly_is_cut_on_the_event_loop() -> None:
    """A traversal, a search or a headline query of a cheap kind runs inline on trial:
    once it has used its cut of the event loop's CPU time, its next store call stops
    it, and it runs again from the start in a thread (one crafted request cannot hold
    the loop for as long as its read takes)."""
    store = DeadlineStore(SQLiteGraphStore(FLEET, ":memory:"))
    store.init_schema()
    main = threading.current_thread().name
    reads = StoreReads(budget_s=float("inf"), cut_s=0.005)
    calls: list[str] = []

    def search(pages: int) -> str:  # a store call per page, 1 ms of work per page
        for _ in range(pages):
            store.scan_nodes("site", None, 10)
            calls.append(threading.current_thread().name)
            burn(0.001)
        return threading.current_thread().name

    async def run() -> list[str]:
        return [await reads.run("searchNodes", search, pages) for pages in (1, 1, 40)]

    first, cheap, costly = asyncio.run(run())
    assert first != main and cheap == main  # a new kind in a thread, then inline
    assert costly != main and reads.cut == 1  # cut, then answered by a thread
    on_loop = calls[2:].count(main)
    assert 5 <= on_loop <= 7  # cut at the first store call past 5 ms of CPU
    assert calls[2 + on_loop:] == [costly] * 40  # the whole read again, never cut


def test_bounded_reads_and_reads_in_threads_are_never_cut() -> None:
    store = DeadlineStore(SQLiteGraphStore(FLEET, ":memory:"))
    store.init_schema()
    reads = StoreReads(budget_s=float("inf"), cut_s=0.0)

    def pages(n: int) -> int:
        for _ in range(n):
            store.scan_nodes("site", None, 10)
            burn(0.0005)
        return n

    async def run() -> list[int]:
        return [await reads.run("nodes", pages, 5, bounded=True) for _ in range(3)]

    assert asyncio.run(run()) == [5, 5, 5]
    assert (reads.threaded, reads.inline, reads.cut) == (1, 2, 0)
    check_inline_cut()  # nothing left set after the reads


def test_a_kind_that_turns_slow_goes_back_to_threads() -> None:
    reads = StoreReads(budget_s=1.0)
    read_threads(reads, "placement", 1)
    assert reads.runs_inline("placement") and not reads.runs_inline("affectedJobs")
    reads.cost_s["placement"] = 5.0  # as if its last reads took seconds
    assert not reads.runs_inline("placement")
    assert threading.current_thread().name not in read_threads(reads, "placement", 1)


def test_a_failing_read_raises_inline_and_in_a_thread() -> None:
    reads = StoreReads(budget_s=float("inf"))

    def fail() -> None:
        raise LookupError("no such node")

    async def run() -> None:
        for _ in range(2):  # in a thread, then inline
            with pytest.raises(LookupError):
                await reads.run("lookup", fail, bounded=True)

    asyncio.run(run())
    assert (reads.threaded, reads.inline) == (1, 1)


def test_size_classes_are_powers_of_two() -> None:
    assert [size_class(n) for n in (0, 1, 2, 3, 4, 5, 100, 1000)] == [
        1, 1, 2, 4, 4, 8, 128, 1024]


def test_answers_are_the_same_inline_and_in_threads(fleet: CountingStore) -> None:
    schema = build_schema()
    answers = []
    for reads in (StoreReads(budget_s=0.0), StoreReads(budget_s=float("inf"))):
        async def run(reads: StoreReads = reads) -> list[Any]:
            out = []
            for _ in range(3):  # the first of each kind in a thread, the rest as decided
                for query, variables in ((AFFECTED, {"id": "cdu:s1-c1"}),
                                         (RACKS, {"id": "cdu:s1-c1"})):
                    result = await schema.execute(
                        query, variable_values=variables,
                        context_value=new_context(fleet, clock=lambda: NOW, reads=reads))
                    assert result.errors is None
                    out.append(result.data)
            return out

        answers.append(asyncio.run(run()))
        if reads.budget_s == 0.0:
            assert reads.inline == 0
        else:  # each kind in a thread when new, then inline (affectedJobs' on trial)
            assert reads.inline > 0 and reads.threaded >= 3 and reads.cut == 0
    assert answers[0] == answers[1]
    assert answers[0][1] == {"node": {"racks": [{"id": "rack:s1-r1"}, {"id": "rack:s1-r2"}]}}


def test_answers_are_written_by_orjson_and_what_it_cannot_write_by_json(
    fleet: CountingStore,
) -> None:
    from fleetgraph.serving.app import FleetGraphQL

    view = FleetGraphQL(build_schema(), fleet, registry=FLEET, clock=lambda: NOW,
                        graphiql=False)
    for data in ({"data": {"node": {"id": "site:s1", "name": "Zürich", "kw": 1.5}}},
                 {"data": {"properties": {"big": 2**70}}}):
        assert json.loads(view.encode_json(data)) == data
    answer = post(create_app(fleet, clock=lambda: NOW), RACKS, {"id": "cdu:s1-c1"})
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"data": {"node": {"racks": [{"id": "rack:s1-r1"},
                                                         {"id": "rack:s1-r2"}]}}}
