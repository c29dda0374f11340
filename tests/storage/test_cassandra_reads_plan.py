"""How PartitionReads plans its requests (no server): grouped, every partition asked for
is named exactly once and no SELECT names more than PARTITIONS_PER_SELECT; one a
partition otherwise; rows come back under their near id."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from fleetgraph.storage.cassandra.partition_reads import (
    PARTITIONS_PER_SELECT,
    PartitionReads,
    Read,
)


def named(jobs: list[tuple[Any, Any]], grouped: bool, two: bool) -> list[tuple[Any, ...]]:
    """Every partition the statements name, as (near, second) or (near,)."""
    found: list[tuple[Any, ...]] = []
    for _, params in jobs:
        if grouped:
            nears, seconds = params[0], params[1] if two else [None]
            found += [(n, s) if two else (n,) for n in nears for s in seconds]
        else:
            found.append(tuple(params[:2]) if two else (params[0],))
    return found


@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("seconds", [[], [0], list(range(16)), list(range(70))])
def test_every_partition_is_named_once(grouped: bool, seconds: list[int]) -> None:
    rng = random.Random(len(seconds))
    nears = [f"job:j{i}" for i in range(rng.randint(1, 300))]
    asked = nears + rng.sample(nears, len(nears) // 4)  # duplicates are read once
    two = bool(seconds)
    key = ("from_id", "bucket") if two else ("id",)
    reads = PartitionReads(lambda jobs, action: [], lambda cql: cql, grouped)
    jobs = reads.jobs(Read("SELECT from_id FROM ks.t", key, asked, seconds,
                           " AND valid_to > ?", (7,)))
    expected = [(n, s) for n, s in itertools.product(nears, seconds)] if two else [
        (n,) for n in nears]
    got = named(jobs, grouped, two)
    assert sorted(got) == sorted(expected)
    for statement, params in jobs:
        assert params[-1] == 7  # the tail's parameter, after the key
        if grouped:
            assert " IN ?" in statement
            assert len(params[0]) * max(1, len(seconds)) <= max(PARTITIONS_PER_SELECT,
                                                                   len(seconds))
        else:
            assert " IN " not in statement


def test_rows_come_back_under_their_near_id() -> None:
    rows = {"a": [("a", 1), ("a", 2)], "b": [("b", 3)], "c": []}

    def run(jobs: list[tuple[Any, Any]], action: str) -> list[list[Any]]:
        return [[row for near in params[0] for row in rows[near]] for _, params in jobs]

    reads = PartitionReads(run, lambda cql: cql, True)
    found = reads.read("SELECT id, x FROM ks.t", ("id",), ["c", "a", "b", "a"])
    assert found == {"c": [], "a": [("a", 1), ("a", 2)], "b": [("b", 3)]}
    with pytest.raises(ValueError):
        reads.read("SELECT id FROM ks.t", ("id", "bucket"), ["a"])
