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


@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("pack", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_seconds_per_near_name_every_listed_partition_once(
    grouped: bool, pack: bool, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each near id's own buckets (a bucket directory's): every listed partition named
    exactly once, each near id in one SELECT, at most PARTITIONS_PER_SELECT partitions a
    SELECT; ungrouped, only the listed ones."""
    from fleetgraph.storage.cassandra import partition_reads

    monkeypatch.setattr(partition_reads, "PACK_SECONDS", pack)
    rng = random.Random(seed)
    nears = [f"dataset:d{i}" for i in range(rng.randint(1, 400))]
    per_near = {n: rng.sample(range(16), rng.choice([0, 1, 1, 1, 2, 3, 16])) for n in nears}
    asked = nears + rng.sample(nears, len(nears) // 4) + ["dataset:unlisted"]
    reads = PartitionReads(lambda jobs, action: [], lambda cql: cql, grouped)
    jobs = reads.jobs(Read("SELECT to_id, from_id FROM t.in_edges", ("to_id", "bucket"),
                           asked, list(range(16)), per_near=per_near))
    names = named(jobs, grouped, True)
    listed = {(n, b) for n, buckets in per_near.items() for b in buckets}
    assert len(names) == len(set(names)) and set(names) >= listed
    if not grouped:
        assert set(names) == listed
        return
    assert all(len(p[0]) * len(p[1]) <= PARTITIONS_PER_SELECT for _, p in jobs)
    owners = [n for _, p in jobs for n in p[0]]
    assert len(owners) == len(set(owners))  # one SELECT a near id
    if not pack:  # near ids of the same buckets together only
        assert all(len({tuple(sorted(per_near[n])) for n in p[0]}) == 1 for _, p in jobs)
    else:
        assert len(jobs) <= len(listed)
