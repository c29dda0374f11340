"""/metrics, /healthz and /readyz of the app, in-process through httpx.

The figures are checked against what the test itself did: the queries it sent, the
error codes in the answers it got, and the store calls a CountingStore saw."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.app import create_app
from fleetgraph.serving.guards import Limits
from fleetgraph.serving.health import ReadinessProbe
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.storage.base import GraphStore, StorageUnavailable
from fleetgraph.storage.delegating import DelegatingStore
from fleetgraph.storage.embedded import SQLiteGraphStore

TOKENS = {"ops-token": "ops", "sched-token": "scheduler"}
AFFECTED = '{ affectedJobs(componentId: "cdu:s1-c1") { items { jobId } } }'
BOTH = ('{ affectedJobs(componentId: "cdu:s1-c1") { truncated } '
        'modelHotness(modelId: "model:m1") { siteId } }')
ALIASED = '{ a: node(id: "site:s1") { id } b: node(id: "rack:s1-r1") { id } }'
DEEP = ('{ node(id: "site:s1") { ' + "... on Site { racks { site { " * 9 + "id"
        + " } } }" * 9 + " } }")


def request(app: object, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(run())


def ask(app: object, query: str, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return request(app, "POST", "/graphql", json={"query": query}, headers=headers)


def scrape(app: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    response = request(app, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors") or []]


def test_query_latency_is_counted_once_per_root_field_and_query(
        fleet: CountingStore) -> None:
    app = create_app(fleet)
    sent = [AFFECTED] * 3 + [BOTH] * 2 + [ALIASED]
    for query in sent:
        response = ask(app, query)
        assert response.status_code == 200 and "errors" not in response.json()
    ask(app, "{ affectedJobz { truncated } }")  # a typo: no label of its own
    samples = scrape(app)
    expected = {"affectedJobs": 5, "modelHotness": 2, "node": 1}
    counted = {labels[0][1]: v for (name, labels), v in samples.items()
               if name == "fleetgraph_query_seconds_count"}
    assert counted == expected
    assert value(samples, "fleetgraph_query_seconds_bucket", field="node", le="+Inf") == 1
    assert value(samples, "fleetgraph_http_requests_total", status="200") == len(sent) + 1
    assert value(samples, "fleetgraph_requests_in_flight") == 0


def test_store_reads_are_timed_per_call_and_edge_type(fleet: CountingStore) -> None:
    app = create_app(fleet)
    for query in [AFFECTED, BOTH, ALIASED, '{ nodes(type: "rack") { items { id } } }']:
        assert ask(app, query).status_code == 200
    samples = scrape(app)
    by_edge: Counter[str] = Counter()
    for method, details in fleet.log:  # what the store behind the meter was asked
        if method == "neighbours":
            by_edge[str(details[0])] += 1
    assert by_edge  # the queries above follow edges
    for edge_type, n in by_edge.items():
        assert value(samples, "fleetgraph_store_seconds_count", operation="neighbours",
                     edge_type=edge_type) == n
    for operation in ("get_nodes", "scan_nodes"):
        assert value(samples, "fleetgraph_store_seconds_count", operation=operation,
                     edge_type="") == fleet.calls[operation]
    assert fleet.calls["scan_nodes"] >= 1


def test_errors_are_counted_by_code_and_guard_refusals_by_guard(
        fleet: CountingStore) -> None:
    app = create_app(fleet, tokens=TOKENS)
    answers = [
        ask(app, '{ node(id: "bad id") { id } }', "ops-token"),  # a GraphQL error
        ask(app, '{ node(id: "site:nope") { id } }', "ops-token"),
        ask(app, DEEP, "ops-token"),  # a document guard
        ask(app, AFFECTED, "sched-token"),  # the role's grant: 403
        ask(app, AFFECTED, "wrong"),  # the token gate, before GraphQL: 401
        ask(app, AFFECTED),
        request(app, "POST", "/graphql", content=b"{not json",  # the body guard
                headers={"authorization": "Bearer ops-token",
                         "content-type": "application/json"}),
    ]
    statuses = Counter(str(a.status_code) for a in answers)
    assert {"200", "401", "403"} <= set(statuses)
    sent_codes = Counter(code for a in answers for code in codes(a))
    samples = scrape(app)
    counted = {labels[0][1]: v for (name, labels), v in samples.items()
               if name == "fleetgraph_graphql_errors_total"}
    assert counted == dict(sent_codes)
    refused = {labels[0][1]: v for (name, labels), v in samples.items()
               if name == "fleetgraph_requests_refused_total"}
    guards = {"QUERY_TOO_DEEP", "FORBIDDEN", "UNAUTHENTICATED"}
    assert {g: refused.get(g) for g in guards} == {"QUERY_TOO_DEEP": 1, "FORBIDDEN": 1,
                                                    "UNAUTHENTICATED": 2}
    for status, n in statuses.items():
        assert value(samples, "fleetgraph_http_requests_total", status=status) == n


class Switch(DelegatingStore):
    """A store that can be taken down: then every call raises StorageUnavailable."""

    down = False

    def before(self, method: str, *details: object) -> None:
        if self.down:
            raise StorageUnavailable("the store is switched off (test)")


def test_healthz_is_alive_and_readyz_follows_the_store(fleet: CountingStore) -> None:
    store = Switch(fleet)
    app = create_app(store)
    ready = request(app, "GET", "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"store": "ok", "schema": "ok"}}
    assert value(scrape(app), "fleetgraph_ready") == 1
    store.down = True
    fleet.reset()
    health = request(app, "GET", "/healthz")
    assert (health.status_code, health.text) == (200, "ok")
    assert not fleet.calls  # /healthz touches no store
    down = request(app, "GET", "/readyz")
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "not ready"
    assert body["checks"]["store"].startswith("unreachable: ")
    assert "switched off" in body["checks"]["store"]
    assert value(scrape(app), "fleetgraph_ready") == 0
    store.down = False
    assert request(app, "GET", "/readyz").status_code == 200


def test_readyz_names_a_schema_that_is_not_current(tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite"
    SQLiteGraphStore(FLEET, path).close()
    last_edge = list(FLEET.edges)[-1]
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        dropped = next(t for t in tables if last_edge in t)
        db.execute(f"DROP TABLE {dropped}")
    store = SQLiteGraphStore(FLEET, path, schema="trust")
    try:
        response = request(create_app(store), "GET", "/readyz")
    finally:
        store.close()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["store"] == "ok"
    assert checks["schema"].startswith("not current: ")
    assert "does not match the registry" in checks["schema"]


class Hung(DelegatingStore):
    """Reads wait until released."""

    def __init__(self, inner: GraphStore) -> None:
        super().__init__(inner)
        self.release = threading.Event()
        self.waiting = 0

    def before(self, method: str, *details: object) -> None:
        self.waiting += 1
        self.release.wait(30)


def test_readyz_does_not_wait_for_a_hung_store_and_runs_one_check_at_a_time(
        fleet: CountingStore) -> None:
    store = Hung(fleet)
    probe = ReadinessProbe(store, FLEET, timeout_s=0.05)

    async def probes() -> list[Any]:
        first = await probe.check()
        second = await probe.check()  # the first check is still running: shared
        store.release.set()
        return [first, second]

    first, second = asyncio.run(probes())
    assert not first.ready and not second.ready
    assert first.checks == {"store": "no answer within 0.05 s"}
    assert store.waiting == 1


def test_a_request_waiting_on_the_store_is_in_flight(fleet: CountingStore) -> None:
    store = Hung(fleet)
    app = create_app(store)

    async def run() -> tuple[str, httpx.Response, str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as client:
            asking = asyncio.ensure_future(
                client.post("/graphql", json={"query": '{ node(id: "site:s1") { id } }'}))
            for _ in range(1000):  # until the query waits in the store
                if store.waiting:
                    break
                await asyncio.sleep(0.01)
            during = (await client.get("/metrics")).text
            store.release.set()
            answer = await asking
            after = (await client.get("/metrics")).text
        return during, answer, after

    during, answer, after = asyncio.run(run())
    assert answer.json()["data"] == {"node": {"id": "site:s1"}}
    assert "fleetgraph_requests_in_flight 1.0" in during.splitlines()
    assert "fleetgraph_requests_in_flight 0.0" in after.splitlines()


def test_the_demo_server_shows_its_ingest_run(fleet: CountingStore) -> None:
    from fleetgraph.ingest.pipeline import PipelineStats
    from fleetgraph.serving.metrics import ingest_run_metrics

    stats = PipelineStats(received=10, accepted=6, rejected=Counter(undecodable=3),
                          filtered=Counter(heartbeat=1))
    samples = scrape(create_app(fleet, metrics=ingest_run_metrics(FLEET, stats)))
    events = {dict(labels)["outcome"]: v for (name, labels), v in samples.items()
              if name == "fleetgraph_ingest_events_total"}
    assert events == {"received": 10, "accepted": 6, "filtered": 1, "dead_lettered": 3}
    assert value(samples, "fleetgraph_dead_letters_total", reason="undecodable") == 3


def test_readyz_of_a_closed_store_is_503_naming_the_read_that_failed() -> None:
    store = SQLiteGraphStore(FLEET, ":memory:")
    app = create_app(store)
    assert request(app, "GET", "/readyz").status_code == 200
    store.close()
    response = request(app, "GET", "/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "store": "read failed: StorageError: read from the embedded store failed: "
                 "Cannot operate on a closed database.",
        "schema": "not checked: the store did not answer"}
    assert request(app, "GET", "/healthz").text == "ok"


def cut_and_scrape(app: object, query: str, release: Callable[[], bool]
                   ) -> tuple[httpx.Response, dict[Any, float]]:
    """Ask ``query`` (cut by the app's deadline), then scrape /metrics on the same event
    loop at once, while what the query waits for (a store read, a document worker) is
    still held; then ``release`` it (it says whether it was still held)."""
    async def run() -> tuple[httpx.Response, str, bool]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as client:
            answer = await client.post("/graphql", json={"query": query})
            text = (await client.get("/metrics")).text
            return answer, text, release()

    answer, text, held = asyncio.run(run())
    assert held  # the scrape came before what the query waited for ended
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return answer, samples


def assert_counted_as_cut(response: httpx.Response, samples: dict[Any, float],
                          field: str, at_least_s: float) -> None:
    assert response.status_code == 504 and codes(response) == ["TIMEOUT"]
    assert value(samples, "fleetgraph_query_seconds_count", field=field) == 1
    assert at_least_s < value(samples, "fleetgraph_query_seconds_sum", field=field) < 30
    assert value(samples, "fleetgraph_graphql_errors_total", code="TIMEOUT") == 1
    assert value(samples, "fleetgraph_requests_refused_total", guard="TIMEOUT") == 1
    assert value(samples, "fleetgraph_http_requests_total", status="504") == 1
    assert value(samples, "fleetgraph_requests_in_flight") == 0


def test_a_query_cut_by_the_deadline_is_timed_and_counted_when_its_504_is_sent(
        fleet: CountingStore) -> None:
    store = Hung(fleet)  # its read holds a worker thread until the test releases it
    app = create_app(store, limits=Limits(timeout_s=0.2))

    def release() -> bool:
        held = store.waiting == 1 and not store.release.is_set()
        store.release.set()
        return held

    try:
        response, samples = cut_and_scrape(app, '{ node(id: "site:s1") { id } }', release)
    finally:
        store.release.set()
    assert_counted_as_cut(response, samples, "node", 0)


def test_a_query_cut_before_its_execution_began_is_counted_under_its_root_fields(
        fleet: CountingStore) -> None:
    """The deadline can pass while a new document waits for a document worker (both
    busy with other requests' documents): the query is still timed, from when its
    request arrived, under the root fields of the document it sent (typos left out)."""
    from fleetgraph.serving.documents import DOCUMENT_WORKERS

    release = threading.Event()
    busy = [DOCUMENT_WORKERS.submit(release.wait, 30) for _ in range(2)]
    app = create_app(fleet, limits=Limits(timeout_s=0.2))

    def free_workers() -> bool:
        held = not any(b.done() for b in busy)  # the document was not parsed yet
        release.set()
        return held

    try:
        response, samples = cut_and_scrape(
            app, '{ node(id: "site:s9") { id } ...F } fragment F on Query { '
                 'affectedJobs(componentId: "cdu:s1-c1") { truncated } nodez }', free_workers)
    finally:
        release.set()
    # timed from the request's arrival: at least the limit (to the timer's resolution)
    assert_counted_as_cut(response, samples, "node", 0.19)
    assert value(samples, "fleetgraph_query_seconds_count", field="affectedJobs") == 1
    assert value(samples, "fleetgraph_query_seconds_count", field="nodez") == 0
    assert fleet.calls == {}


def test_a_long_document_cut_before_it_was_parsed_is_not_parsed_on_the_event_loop(
        fleet: CountingStore) -> None:
    from fleetgraph.serving.documents import DOCUMENT_WORKERS
    from fleetgraph.serving.metrics import MAX_CUT_DOCUMENT_CHARS

    release = threading.Event()
    busy = [DOCUMENT_WORKERS.submit(release.wait, 30) for _ in range(2)]
    app = create_app(fleet, limits=Limits(timeout_s=0.2))
    query = "#" + "x" * MAX_CUT_DOCUMENT_CHARS + '\n{ node(id: "site:s1") { id } }'

    def free_workers() -> bool:
        held = not any(b.done() for b in busy)
        release.set()
        return held

    try:
        response, samples = cut_and_scrape(app, query, free_workers)
    finally:
        release.set()
    assert response.status_code == 504 and codes(response) == ["TIMEOUT"]
    assert value(samples, "fleetgraph_query_seconds_count", field="node") == 0
    assert value(samples, "fleetgraph_http_requests_total", status="504") == 1
