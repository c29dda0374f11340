"""The issue's targets, checked against a results dict: met, missed, or not measured (None)."""

from __future__ import annotations

from typing import Any

from fleetgraph.bench.stats import check

QUERIES = ("affectedJobs", "modelHotness", "blastRadius", "placement", "lineage",
           "dataResidency")


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _row(target: str, value: Any, met: bool | None) -> dict[str, Any]:
    return {"target": target, "value": value, "met": met}


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for size in results.get("sizes", {}):
        rate = _get(results, "sizes", size, "ingest_embedded", "events_per_s")
        share = _get(results, "sizes", size, "ingest_embedded", "ratio_to_baseline")
        rows.append(_row(f"1. embedded ingest at {size} >= 20,000 events/s", rate,
                         check(rate, 20_000, at_least=True)))
        rows.append(_row(f"1. embedded ingest at {size} >= 0.5 x raw SQLite", share,
                         check(share, 0.5, at_least=True)))
    rate = _get(results, "stack_ingest", "events_per_s")
    share = _get(results, "stack_ingest", "rows_ratio_to_baseline")
    rows.append(_row("2. Kafka->Faust->Cassandra >= 5,000 events/s", rate,
                     check(rate, 5_000, at_least=True)))
    rows.append(_row("2. Kafka->Faust->Cassandra >= 0.5 x driver baseline (rows/s)", share,
                     check(share, 0.5, at_least=True)))
    for run in _get(results, "freshness", "runs") or [{}]:
        window = run.get("dedup_window_s")
        p99 = run.get("p99_ms")
        label = "" if window is None else f" (dedup window {window:g} s)"
        rows.append(_row(f"3. freshness p99 < 2 s{label}", p99,
                         None if p99 is None else p99 < 2000))
    for backend, limit in (("embedded", 50.0), ("cassandra", 100.0)):
        for query in QUERIES:
            p99 = _p99(results, "1e6", backend, query)
            rows.append(_row(f"4. {query} p99 at 1e6 on {backend} < {limit:g} ms", p99,
                             None if p99 is None else p99 < limit))
        for query in QUERIES:
            small, large = _p99(results, "1e5", backend, query), _p99(results, "1e7", backend,
                                                                     query)
            growth = round(large / small, 2) if small and large else None
            rows.append(_row(f"4. {query} p99 1e7/1e5 <= 1.5 on {backend}", growth,
                             check(growth, 1.5)))
    for label, path in (("stack worker, steady stream", ("steady_memory", "worker_rss_growth")),
                        ("stack worker, backlog drain", ("stack_ingest", "worker_rss_growth")),
                        ("embedded runner", ("memory_embedded", "growth"))):
        growth = _get(results, *path)
        rows.append(_row(f"5. {label} RSS within 20% on a 10x stream", growth,
                         None if growth is None else abs(growth) <= 0.2))
    return rows


def _p99(results: dict[str, Any], size: str, backend: str, query: str) -> float | None:
    if backend == "embedded":
        value = _get(results, "sizes", size, "queries_embedded", query, "p99_ms")
    else:
        value = _get(results, "sizes", size, "queries_cassandra", "queries", query, "p99_ms")
    return float(value) if value is not None else None
