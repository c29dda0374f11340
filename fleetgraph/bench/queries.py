"""Query latency through GraphQL, with the same traversal in networkx as baseline.

The networkx side is the independent reference of the test suite
(:mod:`fleetgraph.bench.reference`), run on a graph held in memory and built from
the same events; it ships in the package, so the benchmark runs from a wheel too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleetgraph.bench.stats import summary_ms
from fleetgraph.schemas import load_event_codec
from fleetgraph.serving.collector import collector_for_serving
from fleetgraph.serving.context import new_context
from fleetgraph.serving.schema import build_schema
from fleetgraph.storage.base import GraphStore


def oracle() -> Any:
    import fleetgraph.bench.reference.graph as graph
    import fleetgraph.bench.reference.queries as queries

    return graph, queries


@dataclass(frozen=True)
class QueryCase:
    name: str
    query: str
    variables: list[dict[str, Any]]
    baseline: Callable[[Any, dict[str, Any]], Any]


class InProcessGraphQL:
    """GraphQL documents executed in this process (the server's schema, no HTTP) on a
    store, with the clock fixed at ``now_us``; one event loop for all of them."""

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us
        self.schema = build_schema()
        self.loop = asyncio.new_event_loop()

    def answer(self, store: GraphStore, query: str, variables: dict[str, Any]) -> Any:
        """The answer's ``data``; errors raise RuntimeError."""
        result = self.loop.run_until_complete(self.schema.execute(
            query, variable_values=variables,
            context_value=new_context(store, clock=lambda: self.now_us)))
        if result.errors:
            raise RuntimeError(f"{result.errors}")
        return result.data

    def close(self) -> None:
        self.loop.close()


def latency(run: Callable[[dict[str, Any]], Any], variables: list[dict[str, Any]],
            repeats: int, budget_s: float | None = None) -> dict[str, Any]:
    """Run ``repeats`` times over the variables, cycling; with ``budget_s``, stop early
    once that much time has gone (after at least 3 runs: a slow query's p99 is then
    its maximum, and ``runs`` says so). ``cpu_ms_mean``: this process's CPU time a
    run (every thread's: the reads a query runs in worker threads count), which the
    machine's load does not inflate as it does the wall-clock p50/p99."""
    samples: list[float] = []
    cpu_ms = 0.0
    began = time.perf_counter()
    for i in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        run(variables[i % len(variables)])
        cpu_ms += (time.process_time() - cpu) * 1000
        samples.append((time.perf_counter() - started) * 1000)
        if budget_s is not None and i >= 2 and started - began > budget_s:
            break
    s = summary_ms(samples)
    return {"p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"], "runs": s["runs"],
            "cpu_ms_mean": round(cpu_ms / len(samples), 2) if samples else None}


def measure(store: GraphStore, cases: list[QueryCase], graph: Any, now_us: int,
            repeats: int, *, baseline: bool = True,
            budget_s: float | None = None) -> dict[str, Any]:
    """p50/p99 of each case through GraphQL over ``store``; with ``baseline``, the
    same traversal in networkx over ``graph`` next to it."""
    graphql = InProcessGraphQL(now_us)

    def ask(query: str) -> Callable[[dict[str, Any]], Any]:
        def run(variables: dict[str, Any]) -> Any:
            return graphql.answer(store, query, variables)
        return run

    results: dict[str, Any] = {}
    # the collector as the server runs it from its start: what is alive now (the schema,
    # the store, the bench's own data) frozen, then the survivors of full collections
    with collector_for_serving():
        for case in cases:
            if not case.variables:
                continue
            run = ask(case.query)
            sizes = [answer_rows(run(v)) for v in case.variables]
            mine = latency(run, case.variables, repeats, budget_s)
            results[case.name] = {**mine, "samples": len(case.variables),
                                  **answer_size(sizes, mine["p50_ms"])}
            if baseline:
                base = latency(_bound(case.baseline, graph), case.variables, repeats, budget_s)
                results[case.name].update(networkx_p50_ms=base["p50_ms"],
                                          networkx_p99_ms=base["p99_ms"],
                                          networkx_cpu_ms_mean=base["cpu_ms_mean"])
    graphql.close()
    return results


def answer_rows(data: Any) -> int:
    """The rows of an answer: every object in it, at any depth (a candidate, an item,
    an edge, a place...). What a read must at least produce, whatever the store."""
    if isinstance(data, dict):
        return 1 + sum(answer_rows(v) for v in data.values())
    if isinstance(data, list):
        return sum(answer_rows(v) for v in data)
    return 0


def answer_size(sizes: list[int], p50_ms: float) -> dict[str, Any]:
    """The answers' mean and largest size in rows, and p50 over the mean: a read whose
    cost follows its answer keeps this per-row figure flat as the graph grows."""
    mean = sum(sizes) / len(sizes) if sizes else 0.0
    return {"answer_rows_mean": round(mean, 1), "answer_rows_max": max(sizes, default=0),
            "p50_us_per_answer_row": round(p50_ms * 1000 / mean, 1) if mean else None}


def _bound(baseline: Callable[[Any, dict[str, Any]], Any],
           graph: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda variables: baseline(graph, variables)


def clean_events(messages: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    codec = load_event_codec()
    events = []
    for message in messages:
        try:
            events.append((message.topic, codec.decode(message.payload)[1]))
        except Exception:
            continue
    return events
