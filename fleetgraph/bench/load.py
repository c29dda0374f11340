"""A bounded load test of a running GraphQL server: N clients for M seconds.

Each client loops until the time is up (or the request cap is reached),
sending one of the users' queries (affectedJobs, modelHotness, blastRadius,
placement, lineage, dataResidency, traverse, node) with ids picked from the
store the server reads, and waits for the answer before sending the next.
An error is an HTTP status other than 200, a body with GraphQL errors, or a
failed request. The report gives requests/s and p50/p99 per query and overall.

``fleetgraph bench load --url ... --clients N --seconds M --token ...``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from fleetgraph.bench.documents import RESIDENCY, SITE, scan
from fleetgraph.bench.run import AFFECTED, BLAST, HOTNESS, LINEAGE, PLACEMENT
from fleetgraph.bench.stats import summary_ms
from fleetgraph.core.errors import FleetgraphError
from fleetgraph.storage.base import GraphStore

TRAVERSE = """query($id: ID!) { traverse(start: $id, first: 50, steps: [
  {edgeType: "in_site", direction: IN}, {edgeType: "in_rack", direction: IN}]) {
    total truncated frontierSizes items { id } } }"""
IDS_PER_KIND = 50
ERROR_EXAMPLES = 5


class LoadError(FleetgraphError):
    """The load test cannot run as asked."""


@dataclass(frozen=True)
class LoadQuery:
    name: str
    query: str
    variables: list[dict[str, Any]]  # one is picked at random for each request


def _ids(store: GraphStore, node_type: str) -> list[str]:
    ids = []
    for record in scan(store, node_type):
        ids.append(record.id)
        if len(ids) == IDS_PER_KIND:
            break
    return ids


def load_queries(store: GraphStore) -> list[LoadQuery]:
    """The query mix with real ids from ``store``; a kind with no ids is left out."""
    cdus = sorted({str(f.props["component_id"]) for f in scan(store, "fault")
                   if str(f.props.get("component_id", "")).startswith("cdu:")})[:IDS_PER_KIND]
    models, sites = _ids(store, "model"), _ids(store, "site")
    mix = [
        LoadQuery("affectedJobs", AFFECTED, [{"id": c} for c in cdus]),
        LoadQuery("modelHotness", HOTNESS, [{"id": m} for m in models]),
        LoadQuery("blastRadius", BLAST, [{"id": c} for c in cdus]),
        LoadQuery("placement", PLACEMENT, [{"r": {"gpus": n, "modelId": m}}
                                           for n in (8, 64) for m in models[:5]]),
        LoadQuery("lineage", LINEAGE, [{"id": a} for a in _ids(store, "artifact")]),
        LoadQuery("dataResidency", RESIDENCY, [{"dataset": d} for d in _ids(store, "dataset")]),
        LoadQuery("traverse", TRAVERSE, [{"id": s} for s in sites]),
        LoadQuery("node", SITE, [{"site": s} for s in sites]),
    ]
    chosen = [q for q in mix if q.variables]
    if not chosen:
        raise LoadError("the store has no sites, models or faults to query: ingest a fleet first")
    return chosen


@dataclass
class LoadReport:
    url: str
    clients: int
    seconds: float  # wall time, from the first request to the last answer
    samples_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(s) for s in self.samples_ms.values())

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def record(self, name: str, ms: float, error: str | None) -> None:
        self.samples_ms[name].append(ms)
        if error is not None:
            self.errors[name] += 1
            if len(self.error_examples) < ERROR_EXAMPLES:
                self.error_examples.append(f"{name}: {error}")

    def as_dict(self) -> dict[str, Any]:
        every = [ms for samples in self.samples_ms.values() for ms in samples]
        return {
            "url": self.url, "clients": self.clients, "seconds": round(self.seconds, 2),
            "requests": self.requests, "errors": sum(self.errors.values()),
            "requests_per_s": round(self.requests_per_s, 1),
            "overall": summary_ms(every) if every else None,
            "queries": {name: {**summary_ms(samples), "errors": self.errors[name]}
                        for name, samples in sorted(self.samples_ms.items())},
            "error_examples": self.error_examples,
        }

    def table(self) -> str:
        result = self.as_dict()
        lines = [f"load: {self.clients} clients for {result['seconds']} s against {self.url}",
                 f"  {'query':<16}{'requests':>10}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}"]
        rows = [*result["queries"].items()]
        if result["overall"]:
            rows.append(("all", {**result["overall"], "errors": result["errors"]}))
        for name, q in rows:
            lines.append(f"  {name:<16}{q['runs']:>10}{q['errors']:>8}"
                         f"{q['p50_ms']:>10}{q['p99_ms']:>10}")
        lines.append(f"{result['requests']:,} requests, {result['requests_per_s']:,} "
                     f"requests/s, {result['errors']:,} errors")
        lines += [f"  e.g. {example}" for example in self.error_examples]
        return "\n".join(lines)


def _error_of(response: httpx.Response) -> str | None:
    """Why an answer is an error, or None when it is a clean 200 with data."""
    try:
        body = response.json()
    except ValueError:
        body = None
    messages = ([e.get("message") for e in body.get("errors") or []]
                if isinstance(body, dict) else [])
    if response.status_code != 200 or messages or not isinstance(body, dict):
        detail = "; ".join(str(m) for m in messages[:2]) or response.text[:200]
        return f"HTTP {response.status_code}: {detail}"
    return None


async def run_load(
    url: str,
    queries: list[LoadQuery],
    *,
    clients: int,
    seconds: float,
    token: str | None = None,
    max_requests: int = 1_000_000,
    request_timeout_s: float = 30.0,
    seed: int = 1,
) -> LoadReport:
    """Send the mix from ``clients`` concurrent clients for ``seconds`` (at most
    ``max_requests`` in all); each request waits for the one before it."""
    if clients < 1 or seconds <= 0:
        raise LoadError("the load test needs at least one client and a positive duration")
    report = LoadReport(url, clients, 0.0)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    started = time.perf_counter()
    stop_at = started + seconds
    budget = [max_requests]

    async def client(http: httpx.AsyncClient, rng: random.Random) -> None:
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            query = rng.choice(queries)
            payload = {"query": query.query, "variables": rng.choice(query.variables)}
            sent = time.perf_counter()
            try:
                error = _error_of(await http.post(url, json=payload))
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            report.record(query.name, (time.perf_counter() - sent) * 1000, error)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, limits=limits,
                                 timeout=request_timeout_s) as http:
        await asyncio.gather(*(client(http, random.Random(seed + i)) for i in range(clients)))
    report.seconds = time.perf_counter() - started
    return report


def run(url: str, store: GraphStore, *, clients: int, seconds: float,
        token: str | None = None, max_requests: int = 1_000_000) -> LoadReport:
    """Pick ids from ``store``, check that the server answers, run the load test."""
    queries = load_queries(store)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        probe = httpx.post(url, json={"query": "{ __typename }"}, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise LoadError(f"no GraphQL server answers at {url}: {exc}") from None
    problem = _error_of(probe)
    if problem is not None:
        raise LoadError(f"{url} refused a trivial query ({problem}); check --url and --token")
    return asyncio.run(run_load(url, queries, clients=clients, seconds=seconds, token=token,
                                max_requests=max_requests))


def dump(report: LoadReport) -> str:
    return json.dumps(report.as_dict(), indent=2) + "\n"
