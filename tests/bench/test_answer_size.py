"""The query bench's answer size: rows counted at every depth, and the per-row cost."""

from __future__ import annotations

from fleetgraph.bench.queries import answer_rows, answer_size


def test_answer_rows_counts_every_object_at_any_depth() -> None:
    data = {"placement": {"candidates": [{"siteId": "site:1", "parts": {"gpu": 1.0}},
                                         {"siteId": "site:2", "parts": {"gpu": 0.5}}],
                          "excluded": []}}
    # the root, placement, two candidates and their two parts
    assert answer_rows(data) == 6
    assert answer_rows({"x": None}) == 1
    assert answer_rows([]) == 0


def test_answer_size_gives_the_cost_per_row_of_the_mean_answer() -> None:
    assert answer_size([10, 30], 2.0) == {"answer_rows_mean": 20.0, "answer_rows_max": 30,
                                          "p50_us_per_answer_row": 100.0}
    assert answer_size([], 2.0)["p50_us_per_answer_row"] is None
