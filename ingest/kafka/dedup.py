"""Dedup over a mapping that outlives the worker (a Faust table on Kafka).

:class:`MappedDedup` buffers and merges updates exactly as
``ingest.stages.dedup.DedupBuffer`` does (the same ``merge``), but keeps its
entries in any ``MutableMapping[str, dict]``: a plain dict in tests, a
changelog-backed Faust table on a worker, so a restarted worker finds the
updates it had buffered and flushes them.

On a worker the window runs on wall time: a backlog's event times would flush
everything at once or nothing. ``add`` therefore never returns anything due;
a timer calls :meth:`take_due`, writes what it got, then :meth:`forget`, which
deletes only the entries that did not change in between (an entry updated
meanwhile is flushed again at the next tick, with its new updates).

Keys are ``<source partition>|node|<type>|<id>`` or
``<source partition>|edge|<type>|<from>|<to>``: an entry lives in the
changelog partition of the source partition it came from, and the same node
updated from two partitions makes two entries (the store merges them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from graph_model.avro import from_record, to_record
from graph_model.records import NodeUpsert, Upsert
from ingest.stages.dedup import DedupBuffer, merge

Entry = dict[str, Any]  # {"first_seen": µs, "count": n, "kind": ..., "type": ..., "record": {...}}
SEPARATOR = "|"  # never part of a fleetgraph id


def wall_clock_us() -> int:
    return time.time_ns() // 1000


def entry_key(partition: int, upsert: Upsert) -> str:
    return SEPARATOR.join((str(partition), *upsert.key))


def partition_of(key: str) -> int:
    """The source partition an entry key belongs to."""
    return int(key.split(SEPARATOR, 1)[0])


def _entry(upsert: Upsert, first_seen: int, count: int) -> Entry:
    kind = "node" if isinstance(upsert, NodeUpsert) else "edge"
    return {"first_seen": first_seen, "count": count, "kind": kind, "type": upsert.type,
            "record": to_record(upsert)}


def _upsert(entry: Entry) -> Upsert:
    return from_record(entry["kind"], entry["type"], entry["record"])


@dataclass(frozen=True)
class Due:
    """Entries taken for writing, with the version of each at the time."""

    upserts: list[Upsert]
    versions: dict[str, int]  # entry key -> count when taken

    def __len__(self) -> int:
        return len(self.upserts)


class MappedDedup(DedupBuffer):
    """A DedupBuffer whose entries live in a mapping and whose clock is the wall."""

    def __init__(
        self,
        entries: MutableMapping[str, Entry],
        window_us: int,
        *,
        max_entries: int = 200_000,
        clock: Callable[[], int] = wall_clock_us,
    ) -> None:
        super().__init__(window_us, max_entries)
        self.entries = entries
        self.clock = clock
        self.partition = 0  # the source partition of the message being processed
        self.flushed = 0

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, upserts: Iterable[Upsert], now: int) -> list[Upsert]:
        """Merge updates into their entries; nothing is due here (see take_due)."""
        entries = self.entries
        for upsert in upserts:
            self.taken_in += 1
            key = entry_key(self.partition, upsert)
            entry = entries.get(key)
            if entry is None:
                entries[key] = _entry(upsert, self.clock(), 1)
                continue
            merged = _upsert(entry)
            merge(merged, upsert)
            entries[key] = _entry(merged, entry["first_seen"], entry["count"] + 1)
            self.collapsed += 1
        return []

    def pending(self, partitions: Container[int] | None = None) -> int:
        """Entries buffered for ``partitions`` (all when None)."""
        if partitions is None:
            return len(self.entries)
        return sum(1 for key in self.entries if partition_of(key) in partitions)

    def take_due(self, now: int | None = None, *, everything: bool = False,
                 partitions: Container[int] | None = None) -> Due:
        """Entries whose window has passed (or beyond ``max_entries``, oldest first).

        ``partitions`` limits it to the source partitions this worker owns: a Faust
        table may still hold another worker's entries after a rebalance.
        """
        now = self.clock() if now is None else now
        cutoff = now - self.window_us
        items = sorted(
            ((key, entry) for key, entry in self.entries.items()
             if partitions is None or partition_of(key) in partitions),
            key=lambda item: item[1]["first_seen"],
        )
        overflow = len(items) - self.max_entries
        upserts: list[Upsert] = []
        versions: dict[str, int] = {}
        for key, entry in items:
            if not everything and entry["first_seen"] > cutoff and overflow <= 0:
                break
            upserts.append(_upsert(entry))
            versions[key] = entry["count"]
            overflow -= 1
        return Due(upserts, versions)

    def forget(self, due: Due) -> int:
        """Delete the written entries that did not change since taken; return how many."""
        deleted = 0
        for key, count in due.versions.items():
            entry = self.entries.get(key)
            if entry is not None and entry["count"] == count:
                del self.entries[key]
                deleted += 1
        self.flushed += deleted
        return deleted

    def due(self, now: int) -> list[Upsert]:
        due = self.take_due(now)
        self.forget(due)
        return due.upserts

    def drain(self) -> list[Upsert]:
        due = self.take_due(everything=True)
        self.forget(due)
        return due.upserts
