"""A small fleet built by hand in an in-memory store, and helpers to query it.

Times are relative to T0 (2026-11-21 00:00 UTC) in hours::

    site:s1  cdu:s1-c1, cdu:s1-c2, power_shelf:s1-p1
             rack:s1-r1  cooled_by c1 [-10h, open), powered_by p1
                         server:s1-r1-n1 (gpu:s1-r1-n1-g0), server:s1-r1-n2
             rack:s1-r2  cooled_by c1 [-10h, +2h), then c2 [+2h, open)   (moved)
                         server:s1-r2-n1
    site:s2  cdu:s2-c1;  rack:s2-r1 cooled_by s2-c1; server:s2-r1-n1
    site:s3  (no hardware; holds a replica)

    fault:cdu:s1-c1@20261121T030000Z   on cdu:s1-c1       [+3h, +5h)
    fault:server:s2-r1-n1@...T033000Z  on server:s2-r1-n1 [+3.5h, open)

    job:j1 ran_on s1-r1-n1 [+1h, +4h)         job:j2 ran_on s1-r1-n2 [+4h, open)
    job:j3 ran_on s1-r2-n1 [+1h, +6h)         job:j4 ran_on s1-r1-n1 [+6h, +7h)
    job:j5 ran_on s2-r1-n1 [+3h, +4h)         job:j6 ran_on s1-r1-n1 and n2 [+2h, +3.5h)

    model:m1 <- artifact:sha256-a1 (weights), artifact:sha256-a2 (adapter)
    model:m2 <- artifact:sha256-a3
    cached_at: a1@s1 tier 0 last_access +20h hits 15; a2@s1 tier 1 from +2h, never accessed;
               a1@s2 tier 2 last_access +23h hits 3; a1@s3 the same as a1@s2;
               a2@s2 tier 0 [-30h, -20h) (evicted); a3@s2 tier 0 (another model)

"Now" (the app clock and the store clock) is T0 + 24h.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from strawberry.types import ExecutionResult

from fleetgraph.core.units import HOUR_US
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.serving.context import new_context
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.schema import build_schema
from fleetgraph.serving.times import to_us
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.embedded import SQLiteGraphStore

H = HOUR_US
T0 = to_us(datetime(2026, 11, 21, tzinfo=UTC))
assert T0 is not None
NOW = T0 + 24 * H
SCHEMA = build_schema()


class FleetWriter:
    """Writes nodes and edges with a provenance, as the pipeline would."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.events = 0

    def _prov(self, t: int) -> Provenance:
        self.events += 1
        return Provenance(f"e{self.events:05d}", f"test/0/{self.events}", t, "serving-test")

    def node(self, node_id: str, t: int = T0 - 48 * H, **props: Any) -> None:
        node_type = node_id.split(":", 1)[0]
        self.store.upsert_nodes([NodeUpsert(node_type, node_id, props, t, self._prov(t))])

    def edge(
        self,
        edge_type: str,
        a: str,
        b: str,
        start: int | None = None,
        end: int | None = None,
        **props: Any,
    ) -> None:
        """An edge; for temporal types ``[start, end)`` (``end=None``: still open)."""
        if FLEET.edge(edge_type).temporal:
            if start is not None:
                props["valid_from"] = start
            if end is not None:
                props["valid_to"] = end
        t = max(x for x in (start, end, T0 - 48 * H) if x is not None)
        self.store.upsert_edges([EdgeUpsert(edge_type, a, b, props, t, self._prov(t))])


def build_small_fleet(w: FleetWriter) -> None:
    for site, region in (("site:s1", "west"), ("site:s2", "east"), ("site:s3", "east")):
        w.node(site, name=site[5:], region=region, capacity_kw=1000.0, status="ok")
    for part, site in (("cdu:s1-c1", "s1"), ("cdu:s1-c2", "s1"), ("cdu:s2-c1", "s2"),
                       ("power_shelf:s1-p1", "s1")):
        w.node(part, status="ok", capacity_kw=500.0)
        w.edge("in_site", part, f"site:{site}", T0 - 10 * H)
    for rack, site in (("rack:s1-r1", "s1"), ("rack:s1-r2", "s1"), ("rack:s2-r1", "s2")):
        w.node(rack, capacity_kw=250.0, gpu_generation="gb200", status="ok")
        w.edge("in_site", rack, f"site:{site}", T0 - 10 * H)
    w.edge("cooled_by", "rack:s1-r1", "cdu:s1-c1", T0 - 10 * H)
    w.edge("powered_by", "rack:s1-r1", "power_shelf:s1-p1", T0 - 10 * H)
    w.edge("cooled_by", "rack:s1-r2", "cdu:s1-c1", T0 - 10 * H, T0 + 2 * H)
    w.edge("cooled_by", "rack:s1-r2", "cdu:s1-c2", T0 + 2 * H)
    w.edge("cooled_by", "rack:s2-r1", "cdu:s2-c1", T0 - 10 * H)
    for server in ("server:s1-r1-n1", "server:s1-r1-n2", "server:s1-r2-n1", "server:s2-r1-n1"):
        w.node(server, model="tray-4", gpu_count=4, status="ok")
        w.edge("in_rack", server, "rack:" + server[7:12], T0 - 10 * H)
    w.node("gpu:s1-r1-n1-g0", model="b200", memory_gb=192, utilization=0.9)
    w.edge("in_server", "gpu:s1-r1-n1-g0", "server:s1-r1-n1", T0 - 10 * H)

    cdu_fault = "fault:cdu:s1-c1@20261121T030000Z"
    w.node(cdu_fault, T0 + 3 * H, component_id="cdu:s1-c1", code="flow_low", severity="major",
           valid_from=T0 + 3 * H)
    w.node(cdu_fault, T0 + 5 * H, valid_to=T0 + 5 * H)
    w.edge("had_fault", "cdu:s1-c1", cdu_fault, T0 + 3 * H, T0 + 5 * H)
    server_fault = "fault:server:s2-r1-n1@20261121T033000Z"
    w.node(server_fault, T0 + 7 * H // 2, component_id="server:s2-r1-n1", code="ecc",
           valid_from=T0 + 7 * H // 2)
    w.edge("had_fault", "server:s2-r1-n1", server_fault, T0 + 7 * H // 2)

    w.node("application:a1", name="chat")
    w.node("user:u1", name="ada", org="ops")
    runs = [
        ("job:j1", "server:s1-r1-n1", T0 + 1 * H, T0 + 4 * H),
        ("job:j2", "server:s1-r1-n2", T0 + 4 * H, None),
        ("job:j3", "server:s1-r2-n1", T0 + 1 * H, T0 + 6 * H),
        ("job:j4", "server:s1-r1-n1", T0 + 6 * H, T0 + 7 * H),
        ("job:j5", "server:s2-r1-n1", T0 + 3 * H, T0 + 4 * H),
        ("job:j6", "server:s1-r1-n1", T0 + 2 * H, T0 + 7 * H // 2),
        ("job:j6", "server:s1-r1-n2", T0 + 2 * H, T0 + 7 * H // 2),
    ]
    for job, server, start, end in runs:
        w.node(job, start, kind="training", status="running", started_at=start)
        w.edge("ran_on", job, server, start, end, gpus=1)
        w.edge("owned_by", job, "application:a1")
        w.edge("launched_by", job, "user:u1")
        w.edge("used_model", job, "model:m1")
    w.edge("allocated", "job:j1", "gpu:s1-r1-n1-g0", T0 + 1 * H, T0 + 4 * H)

    w.node("model:m1", name="llama", family="llama", params_b=70.0)
    w.node("model:m2", name="other")
    for artifact, model, kind in (("artifact:sha256-a1", "model:m1", "weights"),
                                  ("artifact:sha256-a2", "model:m1", "adapter"),
                                  ("artifact:sha256-a3", "model:m2", "weights")):
        w.node(artifact, kind=kind, size_bytes=10**9, created_at=T0 - 40 * H)
        w.edge("artifact_of", artifact, model)
    a1, a2, a3 = "artifact:sha256-a1", "artifact:sha256-a2", "artifact:sha256-a3"
    w.edge("cached_at", a1, "site:s1", T0, tier=0, last_access=T0 + 20 * H, hits=15)
    w.edge("cached_at", a2, "site:s1", T0 + 2 * H, tier=1)
    w.edge("cached_at", a1, "site:s2", T0, tier=2, last_access=T0 + 23 * H, hits=3)
    w.edge("cached_at", a1, "site:s3", T0, tier=2, last_access=T0 + 23 * H, hits=3)
    w.edge("cached_at", a2, "site:s2", T0 - 30 * H, T0 - 20 * H, tier=0, last_access=T0 - 25 * H)
    w.edge("cached_at", a3, "site:s2", T0, tier=0, last_access=T0 + 23 * H)


@pytest.fixture
def fleet() -> Iterator[CountingStore]:
    """The small fleet, behind a store-call counter (reset after building)."""
    store = CountingStore(SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW))
    build_small_fleet(FleetWriter(store))
    store.reset()
    yield store
    store.close()


@dataclass(frozen=True)
class Timeline:
    """Times of the small fleet, in hours from T0."""

    t0: int = T0
    now: int = NOW

    def us(self, hours: float) -> int:
        return self.t0 + round(hours * H)

    def iso(self, hours: float | None) -> str | None:
        """The time ``hours`` after T0 as GraphQL shows it (``None`` stays ``None``)."""
        if hours is None:
            return None
        return datetime.fromtimestamp(self.us(hours) / 1e6, tz=UTC).isoformat()


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@dataclass
class GraphQLRunner:
    """Runs queries with ``schema.execute`` and a fresh context per query, as the app does."""

    store: GraphStore

    def result(self, query: str, variables: dict[str, Any] | None = None) -> ExecutionResult:
        async def run() -> ExecutionResult:
            context = new_context(self.store, clock=lambda: NOW)
            return await SCHEMA.execute(query, variables, context_value=context)

        return asyncio.run(run())

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of a query that must succeed."""
        result = self.result(query, variables)
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    def errors(self, query: str, variables: dict[str, Any] | None = None) -> list[str]:
        """The error messages of a query that must fail."""
        result = self.result(query, variables)
        assert result.errors, result.data
        return [e.message for e in result.errors]


@pytest.fixture
def gql(fleet: CountingStore) -> GraphQLRunner:
    return GraphQLRunner(fleet)


def build_big_fleet(w: FleetWriter, racks: int, servers: int, jobs: int) -> None:
    """site:big with ``racks`` racks all cooled by cdu:big-c1, ``servers`` servers a
    rack and ``jobs`` jobs a server, every job running [+1h, +4h) through the
    CDU's fault [+2h, +3h)."""
    w.node("site:big", name="big")
    w.node("cdu:big-c1", status="fault")
    w.edge("in_site", "cdu:big-c1", "site:big", T0 - 10 * H)
    fault = "fault:cdu:big-c1@20261121T020000Z"
    w.node(fault, T0 + 2 * H, component_id="cdu:big-c1", valid_from=T0 + 2 * H,
           valid_to=T0 + 3 * H)
    w.edge("had_fault", "cdu:big-c1", fault, T0 + 2 * H, T0 + 3 * H)
    for r in range(racks):
        rack = f"rack:big-r{r:02d}"
        w.node(rack, status="ok")
        w.edge("in_site", rack, "site:big", T0 - 10 * H)
        w.edge("cooled_by", rack, "cdu:big-c1", T0 - 10 * H)
        for s in range(servers):
            server = f"server:big-r{r:02d}-n{s:02d}"
            w.node(server, status="ok")
            w.edge("in_rack", server, rack, T0 - 10 * H)
            for j in range(jobs):
                job = f"job:big-r{r:02d}-n{s:02d}-j{j}"
                w.node(job, status="running")
                w.edge("ran_on", job, server, T0 + 1 * H, T0 + 4 * H, gpus=1)


BigFleet = Callable[[int, int, int], CountingStore]


@pytest.fixture
def big_fleet() -> Iterator[BigFleet]:
    """Make a big fleet of a given size, behind a store-call counter."""
    made: list[CountingStore] = []

    def make(racks: int, servers: int, jobs: int) -> CountingStore:
        store = CountingStore(SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW))
        build_big_fleet(FleetWriter(store), racks, servers, jobs)
        store.reset()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def gql_on() -> Callable[[GraphStore], GraphQLRunner]:
    """A GraphQL runner over any store."""
    return GraphQLRunner
