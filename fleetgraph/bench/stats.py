"""Percentiles, ratios and target checks: the arithmetic of every benchmark report."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 <= q <= 1) of ``values``, which must not be empty."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(samples_ms: Sequence[float]) -> dict[str, Any]:
    """p50, p99 and max of samples in milliseconds, rounded for a report."""
    return {"p50_ms": round(statistics.median(samples_ms), 3),
            "p99_ms": round(percentile(samples_ms, 0.99), 3),
            "max_ms": round(max(samples_ms), 3), "runs": len(samples_ms)}


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline`` rounded to 3 places; None when either is missing or zero."""
    if not value or not baseline:
        return None
    return round(value / baseline, 3)


def check(value: float | None, limit: float, *, at_least: bool = False) -> bool | None:
    """Whether ``value`` meets a target: at most ``limit`` (or at least, with
    ``at_least``). None when it was not measured."""
    if value is None:
        return None
    return value >= limit if at_least else value <= limit
