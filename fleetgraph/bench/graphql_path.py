"""What the GraphQL layer costs on top of the store, query by query.

For each headline query (affectedJobs, blastRadius, modelHotness, lineage,
placement) and a one-hop read (the racks a CDU cools), on one embedded store
and the same ids, three paths to the same answer, interleaved call by call:

- ``store``: the plain query function of ``serving/queries/`` on the store (for
  the one-hop read, the three store reads GraphQL makes: the CDU, its
  ``cooled_by`` edges in, the racks);
- ``graphql``: the schema's ``execute`` on the benchmark's document and variables,
  in this process, with the context the app builds (the request's role, the
  deadline store);
- ``http``: a POST to the production app of ``serving/app.py`` (body guard,
  deadline, token and role gate, strawberry) through httpx's ASGI transport, in
  this process, no sockets;
- ``http_view``: the same POST to the same app with every request through
  strawberry's own HTTP view (``FleetGraphQL.fast_post`` off: the body parsed again,
  its request adapter, a Starlette response), what ``http`` cost before the fast
  path; in the JSON and one line of the table.

Each reports p50/p99 wall time and CPU time (``time.process_time``: every thread
of the process) per call, and the ratios graphql/store and http/store. The
``http`` path includes the client's own work (httpx building the request and
reading the answer); ``client_floor`` is that work alone, the same POST to an
ASGI app that answers at once.
``fleetgraph bench graphql-path`` runs it on the demo fleet (40 sites, 24 h);
the quick profile runs it on its own 1e5 store.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fleetgraph.bench.documents import scan
from fleetgraph.bench.run import AFFECTED, BLAST, HOTNESS, LINEAGE, PLACEMENT
from fleetgraph.bench.stats import percentile, ratio
from fleetgraph.core.units import HOUR_US
from fleetgraph.graph_model import FLEET
from fleetgraph.serving.access import AUDITOR, OPS, SCHEDULER
from fleetgraph.serving.app import FleetGraphQL, create_app
from fleetgraph.serving.context import new_context
from fleetgraph.serving.deadline import DeadlineStore
from fleetgraph.serving.queries import affected_jobs, model_hotness
from fleetgraph.serving.queries import blast_radius as blast
from fleetgraph.serving.queries import lineage as lineage_query
from fleetgraph.serving.queries import placement as placement_query
from fleetgraph.serving.reads import StoreReads
from fleetgraph.serving.schema import build_schema
from fleetgraph.serving.times import to_datetime
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from fleetgraph.storage.embedded import SQLiteGraphStore

ONE_HOP = """query($id: ID!) { node(id: $id) { ... on Cdu { racks { id status } } } }"""
HEADLINE = ("affectedJobs", "blastRadius", "modelHotness", "lineage", "placement")
ONE_HOP_NAME = "cduRacks"
TOKENS = {f"bench-{role}": role for role in (OPS, SCHEDULER, AUDITOR)}
IDS = 50  # ids per query, cycled through
WARMUP = 3  # calls of each path before measuring (imports, caches, the first parse)
PATHS = ("store", "graphql", "http", "http_view")
TABLE_PATHS = PATHS[:3]  # the table's columns; http_view has a line of its own


@dataclass(frozen=True)
class PathCase:
    """One query: its document, the role that asks it in production, the variables
    to cycle through, and the store path to the same answer."""

    name: str
    document: str
    role: str
    variables: list[dict[str, Any]]
    store_path: Callable[[GraphStore, dict[str, Any]], object]


def _iso(us: int) -> str:
    value = to_datetime(us)
    assert value is not None
    return value.isoformat()


def _first(ids: Iterator[str], limit: int = IDS) -> list[str]:
    found: list[str] = []
    for node_id in ids:
        found.append(node_id)
        if len(found) == limit:
            break
    return found


def _cdu_racks(store: GraphStore, variables: dict[str, Any]) -> object:
    cdu = variables["id"]
    store.get_nodes([cdu])
    edges = store.neighbours("cooled_by", [cdu], Direction.IN, None)[cdu]
    return store.get_nodes([e.from_id for e in edges])


def path_cases(store: GraphStore, now_us: int) -> list[PathCase]:
    """The queries with real ids from ``store`` (as the load test picks them); a query
    with no ids is left out."""
    faulted = sorted({str(f.props["component_id"]) for f in scan(store, "fault")
                      if f.props.get("component_id")})[:IDS]
    models = _first(r.id for r in scan(store, "model"))
    artifacts = _first(r.id for r in scan(store, "artifact"))
    cdus = _first(r.id for r in scan(store, "cdu"))
    since, at = now_us - 24 * HOUR_US, now_us - HOUR_US
    requests = [(n, m) for n in (8, 64) for m in models[:5]]
    cases = [
        PathCase("affectedJobs", AFFECTED, OPS, [{"id": c} for c in faulted],
                 lambda s, v: affected_jobs(s, v["id"], TimeWindow(None, None))),
        PathCase("blastRadius", BLAST, OPS, [{"id": c, "at": _iso(at)} for c in faulted],
                 lambda s, v: blast.blast_radius(s, v["id"], at)),
        PathCase("modelHotness", HOTNESS, SCHEDULER,
                 [{"id": m, "from": _iso(since), "to": _iso(now_us)} for m in models],
                 lambda s, v: model_hotness(s, v["id"], TimeWindow(since, now_us))),
        PathCase("lineage", LINEAGE, AUDITOR, [{"id": a} for a in artifacts],
                 lambda s, v: lineage_query.lineage(s, v["id"], "UP", 4)),
        PathCase("placement", PLACEMENT, SCHEDULER,
                 [{"r": {"gpus": n, "modelId": m, "at": _iso(at)}} for n, m in requests],
                 lambda s, v: placement_query.placement(s, placement_query.PlacementRequest(
                     gpus=v["r"]["gpus"], model_id=v["r"]["modelId"], at_us=at), now_us)),
        PathCase(ONE_HOP_NAME, ONE_HOP, SCHEDULER, [{"id": c} for c in cdus], _cdu_racks),
    ]
    return [c for c in cases if c.variables]


def no_failed_import_per_request() -> None:
    """httpx's ASGI transport imports ``sniffio`` on every request (to ask whether trio
    runs); where sniffio is not installed that is a failed import each time, a search
    of ``sys.path`` costing 0.17 ms here, a third of the client's own work, that no
    client over a socket pays. Marked absent in ``sys.modules``, the import fails the
    same way (ImportError) at once."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


class Paths:
    """The three ways to one answer, over one store, on one event loop."""

    def __init__(self, store: GraphStore, now_us: int) -> None:
        no_failed_import_per_request()
        self.store = store
        self.now_us = now_us
        self.loop = asyncio.new_event_loop()
        self.schema = build_schema(production=True)
        self.reads = StoreReads()  # the app's: what the store's reads cost
        self.app = create_app(store, clock=self.clock, production=True, tokens=TOKENS)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                        base_url="http://bench")
        self.view_app = create_app(store, clock=self.clock, production=True, tokens=TOKENS)
        graphql_view(self.view_app).fast_post = False
        self.view_client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.view_app), base_url="http://bench")
        self.floor = httpx.AsyncClient(transport=httpx.ASGITransport(app=_answer_at_once),
                                       base_url="http://bench")
        # started as uvicorn starts it (its lifespan), after the ids are picked
        self._lifespan = self.app.router.lifespan_context(self.app)

    def start(self) -> None:
        self.loop.run_until_complete(self._lifespan.__aenter__())

    def clock(self) -> int:
        return self.now_us

    def close(self) -> None:
        self.loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.view_client.aclose())
        self.loop.run_until_complete(self.floor.aclose())
        self.loop.close()

    def client_floor(self, case: PathCase, variables: dict[str, Any]) -> Any:
        """The client's side of ``http``: the same POST to an app that answers at once."""
        async def post() -> Any:
            response = await self.floor.post(
                "/graphql", json={"query": case.document, "variables": variables},
                headers={"authorization": f"Bearer bench-{case.role}"})
            return response.json()

        return self.loop.run_until_complete(post())

    def call(self, path: str, case: PathCase, variables: dict[str, Any]) -> Any:
        if path == "store":
            return case.store_path(self.store, variables)
        if path == "graphql":
            return self.loop.run_until_complete(self._execute(case, variables))
        client = self.view_client if path == "http_view" else self.client
        return self.loop.run_until_complete(self._post(case, variables, client))

    async def _execute(self, case: PathCase, variables: dict[str, Any]) -> Any:
        context = new_context(DeadlineStore(self.store), registry=FLEET, clock=self.clock,
                              role=case.role, reads=self.reads)
        result = await self.schema.execute(case.document, variable_values=variables,
                                           context_value=context)
        if result.errors:
            raise RuntimeError(f"{case.name}: {result.errors}")
        return result.data

    async def _post(self, case: PathCase, variables: dict[str, Any],
                    client: httpx.AsyncClient) -> Any:
        response = await client.post(
            "/graphql", json={"query": case.document, "variables": variables},
            headers={"authorization": f"Bearer bench-{case.role}"})
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"{case.name}: HTTP {response.status_code} {body}")
        return body["data"]


async def _answer_at_once(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"data":{}}'})


def _figures(wall_ms: list[float], cpu_ms: list[float]) -> dict[str, Any]:
    return {"p50_ms": round(percentile(wall_ms, 0.5), 3),
            "p99_ms": round(percentile(wall_ms, 0.99), 3),
            "cpu_ms": round(sum(cpu_ms) / len(cpu_ms), 3), "runs": len(wall_ms)}


def measure_case(paths: Paths, case: PathCase, repeats: int, budget_s: float
                 ) -> dict[str, Any]:
    """The three paths of one query, called in turn with the same variables, until
    ``repeats`` rounds or ``budget_s`` (after at least 3 rounds)."""
    warming = time.perf_counter()
    for i in range(WARMUP):  # a slow query (placement at 1e5) warms up once
        answers = [paths.call(p, case, case.variables[i % len(case.variables)])
                   for p in PATHS]
        if not answers[1] == answers[2] == answers[3]:
            raise RuntimeError(f"{case.name}: in process and over HTTP answer differently")
        if time.perf_counter() - warming > budget_s / 4:
            break
    wall: dict[str, list[float]] = {p: [] for p in PATHS}
    cpu: dict[str, list[float]] = {p: [] for p in PATHS}
    began = time.perf_counter()
    for i in range(repeats):
        variables = case.variables[i % len(case.variables)]
        for path in PATHS:
            cpu_started, started = time.process_time(), time.perf_counter()
            paths.call(path, case, variables)
            wall[path].append((time.perf_counter() - started) * 1000)
            cpu[path].append((time.process_time() - cpu_started) * 1000)
        if i >= 2 and time.perf_counter() - began > budget_s:
            break
    figures = {p: _figures(wall[p], cpu[p]) for p in PATHS}
    store = figures["store"]
    for path in PATHS[1:]:
        figures[path].update(
            p50_ratio=ratio(figures[path]["p50_ms"], store["p50_ms"]),
            p99_ratio=ratio(figures[path]["p99_ms"], store["p99_ms"]),
            cpu_ratio=ratio(figures[path]["cpu_ms"], store["cpu_ms"]))
    return {**figures, "ids": len(case.variables)}


def measure_floor(paths: Paths, case: PathCase, repeats: int) -> dict[str, Any]:
    """p50/p99 and CPU of the client's side of an HTTP call (see ``Paths.client_floor``)."""
    wall: list[float] = []
    cpu: list[float] = []
    for i in range(WARMUP + repeats):
        cpu_started, started = time.process_time(), time.perf_counter()
        paths.client_floor(case, case.variables[i % len(case.variables)])
        if i >= WARMUP:
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
    return _figures(wall, cpu)


def graphql_view(app: Any) -> FleetGraphQL:
    """The app's GraphQL view (behind its HTTP guards)."""
    route = next(r for r in app.routes if getattr(r, "path", None) == "/graphql")
    view = route.app
    while not isinstance(view, FleetGraphQL):
        view = view.app
    return view


def app_reads(app: Any) -> StoreReads:
    """The store-read policy of the app's GraphQL view."""
    return graphql_view(app).reads


def read_counts(reads: StoreReads) -> dict[str, Any]:
    """Where a path's store reads ran, warm-up included: inline on the event loop, in a
    worker thread, or inline on trial then cut and run again in a thread."""
    return {"inline": reads.inline, "threaded": reads.threaded, "cut": reads.cut}


def targets(queries: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 10's targets for the layer: over HTTP, a headline query's p50 at most
    twice the store path's plus 1 ms; a one-hop read's p99 at most 5 ms."""
    rows = []
    for name in HEADLINE:
        if name in queries:
            q = queries[name]
            limit = round(2 * q["store"]["p50_ms"] + 1, 3)
            rows.append({"target": f"{name} over HTTP: p50 <= 2 x store p50 + 1 ms",
                         "value": q["http"]["p50_ms"], "limit": limit,
                         "met": q["http"]["p50_ms"] <= limit})
    if ONE_HOP_NAME in queries:
        value = queries[ONE_HOP_NAME]["http"]["p99_ms"]
        rows.append({"target": "one-hop read (racks of a CDU) over HTTP: p99 <= 5 ms",
                     "value": value, "limit": 5.0, "met": value <= 5.0})
    return rows


def measure(store: GraphStore, now_us: int, *, repeats: int = 300,
            budget_s: float = 3.0, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Every query's three paths over ``store`` (``budget_s`` per query)."""
    paths = Paths(store, now_us)
    queries: dict[str, Any] = {}
    cases = path_cases(store, now_us)
    paths.start()
    try:
        for case in cases:
            if only is None or case.name in only:
                queries[case.name] = measure_case(paths, case, repeats, budget_s)
        floor = measure_floor(paths, cases[0], repeats) if cases else None
        reads = {"graphql": read_counts(paths.reads), "http": read_counts(app_reads(paths.app)),
                 "http_view": read_counts(app_reads(paths.view_app))}
    finally:
        paths.close()
    return {"queries": queries, "targets": targets(queries), "client_floor": floor,
            "reads": reads,
            "paths": {"store": "the serving/queries function on the store",
                      "graphql": "schema.execute in process, the app's context",
                      "http": "POST /graphql to the production app via httpx ASGITransport",
                      "http_view": "the same POST, every request through strawberry's "
                                   "HTTP view (the app's fast POST path off)",
                      "client_floor": "the same POST to an ASGI app that answers at once"}}


def measure_file(path: Path, now_us: int, **options: Any) -> dict[str, Any]:
    """:func:`measure` over the embedded store at ``path``."""
    store = SQLiteGraphStore(FLEET, path)
    try:
        return measure(store, now_us, **options)
    finally:
        store.close()


def demo_fleet(path: Path, sites: int, hours: float, now_us: int) -> int:
    """Simulate and ingest the demo fleet (seed 7) into an embedded store at ``path``;
    the number of messages."""
    from fleetgraph.bench import workload
    from fleetgraph.ingest.deadletter import DeadLetterList
    from fleetgraph.ingest.pipeline import Pipeline
    from fleetgraph.ingest.runner import run_embedded
    from fleetgraph.ingest.sinks import StoreSink
    from fleetgraph.simulator import SimulationConfig

    config = SimulationConfig(seed=7, sites=sites, hours=hours, end_time_us=now_us,
                              malformed_rate=0.0)
    messages = workload.messages(config)
    with SQLiteGraphStore(FLEET, path) as store:
        pipeline = Pipeline.for_fleet(StoreSink(store), DeadLetterList(), clock=lambda: now_us)
        run_embedded(pipeline, lambda: messages)
    return len(messages)


def run(sites: int, hours: float, now_us: int, *, repeats: int = 300,
        budget_s: float = 3.0, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``fleetgraph bench graphql-path``: the demo fleet, built in this run, measured."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graphql-path.sqlite"
        started = time.perf_counter()
        messages = demo_fleet(path, sites, hours, now_us)
        built_s = round(time.perf_counter() - started, 1)
        results = measure_file(path, now_us, repeats=repeats, budget_s=budget_s, only=only)
    return {"fleet": {"sites": sites, "hours": hours, "seed": 7, "messages": messages,
                      "build_s": built_s}, **results}


def table(results: dict[str, Any]) -> str:
    """A text table: the three paths side by side, p50 / p99 / CPU ms, and the ratios."""
    lines = [f"  {'query':<14}" + "".join(f"{p + ' ' + s:>14}" for p in TABLE_PATHS
                                         for s in ("p50", "p99", "cpu"))
             + f"{'gql/st p50':>12}{'http/st p50':>12}"]
    for name, q in results["queries"].items():
        lines.append(f"  {name:<14}" + "".join(f"{q[p][s]:>14}" for p in TABLE_PATHS
                                              for s in ("p50_ms", "p99_ms", "cpu_ms"))
                     + f"{q['graphql']['p50_ratio']!s:>12}{q['http']['p50_ratio']!s:>12}")
    floor = results.get("client_floor")
    if floor:
        lines.append(f"  http client alone (httpx, an app answering at once): p50 "
                     f"{floor['p50_ms']} ms, p99 {floor['p99_ms']} ms, CPU {floor['cpu_ms']} ms")
    views = [f"{name} {q['http_view']['cpu_ms']} -> {q['http']['cpu_ms']}"
             for name, q in results["queries"].items() if "http_view" in q]
    if views:
        lines.append("  http CPU ms, strawberry's view -> the fast POST path (same run): "
                     + ", ".join(views))
    marks = {True: "met   ", False: "MISSED"}
    lines += [f"  {marks[t['met']]} {t['target']}: {t['value']} (limit {t['limit']})"
              for t in results["targets"]]
    return "\n".join(lines)
