"""A worker's peak RSS on a steady stream and on one ten times longer (same rate).

    fleetgraph bench steady-memory [--rate 500 --seconds 30]

Part 2 of the full profile drains a published backlog, so its longer stream is
also a larger backlog; here the stream arrives at a steady rate (as in the
freshness runs: worker and GraphQL server on Cassandra, probes every 0.25 s),
for ``seconds`` and for ten times that.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fleetgraph.bench import freshness, stack
from fleetgraph.bench.stack_ingest import fleet_messages
from fleetgraph.core.clock import minute_floor_us, wall_clock_us
from fleetgraph.settings import Settings


def run(settings: Settings, rate: float, seconds: float) -> dict[str, Any]:
    end_us = minute_floor_us(wall_clock_us())
    hours = max(24.0, rate * seconds * 10 / (8 * 310) * 1.2)  # ~310 messages per site-hour
    background = fleet_messages(8, hours, end_us)
    own = stack.private(settings, "steady")
    result: dict[str, Any] = {"rate": rate, "dedup_window_s": own.ingest.dedup_window_s}
    with tempfile.TemporaryDirectory() as tmp, stack.keyspaces(own):
        for name, duration in (("short", seconds), ("long", seconds * 10)):
            topics = own.updated(kafka={"topic_prefix": f"{own.kafka.topic_prefix}{name}.",
                                        "consumer_group": f"{own.kafka.consumer_group}-{name}"})
            result[name] = freshness.run_window(topics, own.ingest.dedup_window_s, background, rate,
                                                duration, 0.25, Path(tmp))
    result["worker_rss_growth"] = round(result["long"]["worker_peak_rss_mib"]
                                        / result["short"]["worker_peak_rss_mib"] - 1, 3)
    result["server_rss_growth"] = round(result["long"]["server_peak_rss_mib"]
                                        / result["short"]["server_peak_rss_mib"] - 1, 3)
    return result
