import pytest

from fleetgraph.bench.stats import check, percentile, ratio, summary_ms


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 51
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_summary_ms() -> None:
    s = summary_ms([3.0, 1.0, 2.0])
    assert s == {"p50_ms": 2.0, "p99_ms": 3.0, "max_ms": 3.0, "runs": 3}


def test_ratio_and_check() -> None:
    assert ratio(5, 10) == 0.5
    assert ratio(None, 10) is None
    assert ratio(5, 0) is None
    assert check(40.0, 50.0) is True
    assert check(60.0, 50.0) is False
    assert check(0.6, 0.5, at_least=True) is True
    assert check(None, 1.0) is None


def test_targets_report_met_missed_and_unmeasured() -> None:
    from fleetgraph.bench.targets import evaluate

    results = {"sizes": {"1e5": {"ingest_embedded": {"events_per_s": 30_000,
                                                     "ratio_to_baseline": 0.4},
                                 "queries_embedded": {"lineage": {"p99_ms": 10.0}}},
                         "1e6": {"queries_embedded": {"lineage": {"p99_ms": 60.0}}}},
               "memory_embedded": {"growth": 0.05}}
    rows = {r["target"]: r["met"] for r in evaluate(results)}
    assert rows["1. embedded ingest at 1e5 >= 20,000 events/s"] is True
    assert rows["1. embedded ingest at 1e5 >= 0.5 x raw SQLite"] is False
    assert rows["4. lineage p99 at 1e6 on embedded < 50 ms"] is False
    assert rows["4. lineage p99 1e7/1e5 <= 1.5 on embedded"] is None
    assert rows["2. Kafka->Faust->Cassandra >= 5,000 events/s"] is None
    assert rows["5. embedded runner RSS within 20% on a 10x stream"] is True


def test_rows_ratio_compares_stored_upserts_per_second() -> None:
    from fleetgraph.bench.stack_ingest import parse_report, rows_ratio

    worker = parse_report("WorkerReport(role='all', processed={'received': 1000, 'x': 1}, "
                          "graph_records_read=300, upserts_stored=300, "
                          "first_event_at=100.0, last_stored_at=110.0)")
    assert worker == {"events": 1000, "upserts_stored": 300, "busy_s": 10.0,
                      "events_per_s": 100}
    assert rows_ratio(worker, {"upserts": 900, "seconds": 10.0}) == {
        "upserts_per_s": 30, "baseline_upserts_per_s": 90, "rows_ratio_to_baseline": 0.333,
        "rows_ratio_per_cpu_s": None}
    per_cpu = rows_ratio({**worker, "upserts_per_cpu_s": 600.0},
                         {"upserts": 900, "seconds": 10.0, "upserts_per_cpu_s": 1000.0})
    assert per_cpu["rows_ratio_per_cpu_s"] == 0.6
