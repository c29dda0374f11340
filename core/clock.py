"""The wall clock, in microseconds since the Unix epoch, the unit of every time
in the graph (see :mod:`fleetgraph.core.units`). One definition, so a test can
reason about every caller's notion of "now" in one place."""

from __future__ import annotations

import time

from fleetgraph.core.units import MINUTE_US


def wall_clock_us() -> int:
    """Now, in whole microseconds since the epoch."""
    return time.time_ns() // 1000


def minute_floor_us(us: int) -> int:
    """``us`` rounded down to its minute (benchmarks and tests pin "now" to it)."""
    return us // MINUTE_US * MINUTE_US
