"""Many partitions of one table read in few requests: the reads' shared path.

A query reads the same table for many ids at once (a site's servers, their GPUs,
every component's faults, a model's artifacts). One single-partition SELECT per id
(and per bucket, per period) costs the client a request each: building it, routing
it, the round trip, decoding its page. On this driver that per-request work is
most of a read's CPU time, and the count of requests, not of rows, set the cost
(blastRadius read ~20,000 partitions of ``had_fault`` a call, nearly all empty).

When every node holds every row (no more nodes than the replication factor: one
node, or three at factor 3), a coordinator reads any partition locally, so a
SELECT naming up to ``PARTITIONS_PER_SELECT`` partitions (``near IN ? [AND second
IN ?]``) costs the cluster no hop and the client one request. Otherwise each
partition keeps its own token-aware single-partition SELECT (a multi-partition
read would make the coordinator fetch from other nodes). Either way the requests
run concurrently (``execute_concurrent``, a bounded number in flight), and the
rows come back per near id: the first selected column must be the near id.
Within one partition rows keep their clustering order; partitions of one near id
(its buckets, its periods) come in no stated order, as before (callers sort).

A read may name each near id's own seconds (``per_near``: the buckets a wide side's
directory lists for it) instead of the same ones for all. Grouped, each near id goes
to one SELECT with all its seconds (``near IN ? AND second IN ?``: every pair of the
two lists), near ids with the same seconds side by side, while the SELECT names at
most ``PARTITIONS_PER_SELECT`` partitions: a few unlisted partitions are read (empty,
or rows of the near id written since; every partition once) instead of a request per
second. Ungrouped, one SELECT per listed partition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PARTITIONS_PER_SELECT = 64  # partitions named by one grouped SELECT (ids x seconds)
PACK_SECONDS = True  # per-near seconds: share SELECTs across seconds (False: one a second)
Job = tuple[Any, tuple[Any, ...] | None]
Run = Callable[[list[Job], str], list[list[Any]]]
Prepare = Callable[[str], Any]


@dataclass(frozen=True)
class PartitionReads:
    """How one store reads many partitions: its runner, statement cache, and whether
    to group partitions into one SELECT (every node a replica of every row)."""

    run: Run
    prepare: Prepare
    grouped: bool

    def read(
        self,
        select: str,
        partition_key: Sequence[str],
        nears: Sequence[str],
        seconds: Sequence[Any] = (),
        tail: str = "",
        tail_params: tuple[Any, ...] = (),
        action: str = "read",
        per_near: Mapping[str, Sequence[Any]] | None = None,
    ) -> dict[str, list[Any]]:
        """The rows of ``select`` (``SELECT <near id>, ... FROM <table>``) in every
        partition (near, second) for each near id and each of ``seconds`` (a
        one-column partition key: ``seconds`` empty), restricted further by
        ``tail`` (``AND ...``, bound by ``tail_params`` after the key); ``per_near``
        instead of ``seconds``: each near id's own (none for a near id it leaves out).
        Rows by near id (every near id present, perhaps with no rows)."""
        [found] = self.read_together(
            [Read(select, tuple(partition_key), list(nears), list(seconds), tail, tail_params,
                  per_near)],
            action)
        return found

    def read_together(self, reads: Sequence[Read], action: str) -> list[dict[str, list[Any]]]:
        """Several :meth:`read` at once, their requests in flight together (one round
        trip's wait, not one each)."""
        jobs: list[Job] = []
        owners: list[int] = []
        found: list[dict[str, list[Any]]] = []
        for n, read in enumerate(reads):
            mine = self.jobs(read)
            jobs += mine
            owners += [n] * len(mine)
            found.append({near: [] for near in read.nears})
        for n, rows in zip(owners, self.run(jobs, action), strict=True):
            rows_of = found[n]
            for row in rows:
                rows_of[row[0]].append(row)
        return found

    def jobs(self, read: Read) -> list[Job]:
        """The statements of one read: grouped, or one a partition."""
        partition_key, seconds = read.partition_key, read.seconds
        two = len(partition_key) == 2
        if read.per_near is not None:
            if not two:
                raise ValueError(f"partition key {tuple(partition_key)} and seconds per near id")
            return self.jobs_per_near(read, read.per_near)
        if two != bool(seconds):
            raise ValueError(f"partition key {tuple(partition_key)} and seconds {seconds!r}")
        unique = list(dict.fromkeys(read.nears))
        if not unique:
            return []
        jobs: list[Job] = []
        near_column = partition_key[0]
        if self.grouped:
            where = f"{near_column} IN ?" + (f" AND {partition_key[1]} IN ?" if two else "")
            statement = self.prepare(f"{read.select} WHERE {where}{read.tail}")
            width = max(1, PARTITIONS_PER_SELECT // max(1, len(seconds)))
            for i in range(0, len(unique), width):
                chunk = unique[i : i + width]
                key: tuple[Any, ...] = (chunk, list(seconds)) if two else (chunk,)
                jobs.append((statement, key + read.tail_params))
        else:
            where = f"{near_column} = ?" + (f" AND {partition_key[1]} = ?" if two else "")
            statement = self.prepare(f"{read.select} WHERE {where}{read.tail}")
            for near in unique:
                if two:
                    jobs += [(statement, (near, second, *read.tail_params))
                             for second in seconds]
                else:
                    jobs.append((statement, (near, *read.tail_params)))
        return jobs

    def jobs_per_near(self, read: Read, per_near: Mapping[str, Sequence[Any]]) -> list[Job]:
        """The statements of a read naming each near id's own seconds: grouped, each
        near id in one SELECT with all its seconds, packed while a SELECT names at most
        PARTITIONS_PER_SELECT partitions (``PACK_SECONDS`` False: only near ids of the
        same seconds together); else one per partition."""
        near_column, second_column = read.partition_key
        listed = {near: tuple(sorted(set(per_near.get(near, ()))))
                  for near in dict.fromkeys(read.nears)}
        jobs: list[Job] = []
        if not self.grouped:
            statement = self.prepare(f"{read.select} WHERE {near_column} = ? AND "
                                     f"{second_column} = ?{read.tail}")
            for near, own in listed.items():
                jobs += [(statement, (near, second, *read.tail_params)) for second in own]
            return jobs
        statement = self.prepare(f"{read.select} WHERE {near_column} IN ? AND "
                                 f"{second_column} IN ?{read.tail}")
        nears: list[str] = []
        seconds: set[Any] = set()
        for near in sorted((n for n in listed if listed[n]), key=lambda n: listed[n]):
            wider = seconds.union(listed[near])
            if nears and ((len(nears) + 1) * len(wider) > PARTITIONS_PER_SELECT
                          or not (PACK_SECONDS or seconds == set(listed[near]))):
                jobs.append((statement, (nears, sorted(seconds), *read.tail_params)))
                nears, wider = [], set(listed[near])
            nears.append(near)
            seconds = wider
        if nears:
            jobs.append((statement, (nears, sorted(seconds), *read.tail_params)))
        return jobs


@dataclass(frozen=True)
class Read:
    """One :meth:`PartitionReads.read`'s arguments."""

    select: str
    partition_key: tuple[str, ...]
    nears: list[str]
    seconds: list[Any]
    tail: str = ""
    tail_params: tuple[Any, ...] = ()
    per_near: Mapping[str, Sequence[Any]] | None = None  # each near id's own seconds
