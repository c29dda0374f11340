"""Random draws the plan needs beyond :class:`random.Random`'s own."""

from __future__ import annotations

import math
import random


def between(rng: random.Random, lo: int, hi: int) -> int:
    """A time in ``[lo, hi)``; ``lo`` when the range is empty."""
    return rng.randrange(lo, hi) if hi > lo else lo


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count, total = count + 1, total + rng.expovariate(1.0)
    return count
