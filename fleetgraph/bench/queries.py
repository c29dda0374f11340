"""Query latency through GraphQL, with the same traversal in networkx as baseline.

The networkx side is the independent reference of the test suite
(``tests/oracle``), run on a graph held in memory and built from the same
events; it is imported from the repository, so the benchmark runs from a
checkout.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas import load_event_codec
from serving.context import new_context
from serving.schema import build_schema
from storage.base import GraphStore

REPO = Path(__file__).resolve().parents[2]


def oracle() -> Any:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import tests.oracle.graph as graph
    import tests.oracle.queries as queries

    return graph, queries


@dataclass(frozen=True)
class QueryCase:
    name: str
    query: str
    variables: list[dict[str, Any]]
    baseline: Callable[[Any, dict[str, Any]], Any]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(run: Callable[[dict[str, Any]], Any], variables: list[dict[str, Any]],
            repeats: int) -> dict[str, float]:
    samples = []
    for i in range(repeats):
        started = time.perf_counter()
        run(variables[i % len(variables)])
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(statistics.median(samples), 3),
            "p99_ms": round(percentile(samples, 0.99), 3), "runs": repeats}


def measure(store: GraphStore, cases: list[QueryCase], graph: Any, now_us: int,
            repeats: int) -> dict[str, Any]:
    schema = build_schema()
    loop = asyncio.new_event_loop()

    def ask(query: str) -> Callable[[dict[str, Any]], Any]:
        def run(variables: dict[str, Any]) -> Any:
            result = loop.run_until_complete(schema.execute(
                query, variable_values=variables,
                context_value=new_context(store, clock=lambda: now_us)))
            if result.errors:
                raise RuntimeError(f"{result.errors}")
            return result.data
        return run

    results: dict[str, Any] = {}
    for case in cases:
        if not case.variables:
            continue
        mine = latency(ask(case.query), case.variables, repeats)
        base = latency(_bound(case.baseline, graph), case.variables, repeats)
        results[case.name] = {**mine, "networkx_p50_ms": base["p50_ms"],
                              "networkx_p99_ms": base["p99_ms"],
                              "samples": len(case.variables)}
    loop.close()
    return results


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
