"""Dedup over a mapping that outlives the worker (a Faust table on Kafka).

:class:`MappedDedup` buffers and merges updates exactly as
``fleetgraph.ingest.stages.dedup.DedupBuffer`` does (the same ``merge``, the same
two modes), but keeps its entries in any ``MutableMapping[str, dict]``: a plain
dict in tests, a changelog-backed Faust table on a worker, so a restarted
worker finds the updates it had buffered and flushes them.

Merged upserts live decoded in memory; the mapping gets a JSON-able copy
either on every update or, with ``write_behind``, only when :meth:`persist`
is called: a worker calls it just before Faust commits source offsets, so the
changelog holds every update the committed offsets cover, and a key updated
ten times between two commits is written once (an entry created and flushed
between two commits never reaches the changelog at all).

On a worker the window runs on wall time: a backlog's event times would flush
everything at once or nothing. So a MappedDedup is no ``DedupBuffer``: it only
takes updates in (:meth:`MappedDedup.take_in`, under the source partition they
came from) and a timer calls :meth:`take_due`, writes what it got, then
:meth:`forget`, which deletes only the entries that did not change in between
(an entry updated meanwhile is flushed again, with its new updates). An entry
taken is in flight: no later take hands it out again until it is forgotten, or
released (:meth:`MappedDedup.release`) after a write that failed, so the
leading edge's short tick and the scan may each write without waiting for the
other. The pipeline's dedup stage on a worker is :class:`TimerFlushedStage`,
whose ``add`` hands updates to it and returns none due.

Each entry is due at a time of its own. In ``leading`` mode the update that
opens a key's window makes an entry due at once (the leading edge); the timer
takes those every short tick (``take_due(scan=False)`` looks at them, and at a
heap of the other due times set here, not at every entry). Once written, the
entry is not deleted but emptied: it keeps the key's window open, in memory
only (an empty entry has nothing to lose: the mapping has none), so the
updates that follow within the window are merged into it and held: due
``max_hold_us`` after the first of them came, or at the window's end if that is
sooner (the trailing edge; the hold is the window unless set shorter). A write
before the window's end empties the entry again, so a key updated all the time
is written about once a hold, not once per update; at the window's end it is
deleted, and a window that ends empty just closes. An entry updated while it
was being written is held likewise, with every update in it (the ones already
written again: merging is idempotent). In ``trailing`` mode a key's first
update is held too, the window's end by default (as before).

So an update waits at most the hold, plus the tick and the write: with the
default (the hold is the window) a key's later updates within its window wait
up to the window; a shorter hold bounds that wait and costs more writes of
the keys updated often (``python -m fleetgraph.bench.dedup_edges`` measures it).

The ordering against commits is the same for both edges: an entry is in the
mapping (by :meth:`persist` before the commit) for as long as any committed
offset covers an update of it not yet written and flushed to Kafka; it leaves
the mapping only in :meth:`forget`, after the write. A worker killed after a
leading-edge write and before the commit re-reads the source messages and
writes the same updates again (the stores merge them to the same graph); one
killed after the commit and before the write finds the entry in the changelog,
due when it was due, and writes it.

Keys are ``<source partition>|node|<type>|<id>`` or
``<source partition>|edge|<type>|<from>|<to>``: an entry lives in the
changelog partition of the source partition it came from, and the same node
updated from two partitions makes two entries (the store merges them).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Container, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.avro import from_record, to_record
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Upsert
from fleetgraph.ingest.stages.dedup import DEDUP_MODES, DedupMode, merge

# {"first_seen": µs, "due": µs, "count": n, "kind": ..., "type": ..., "record": {...}}
# (entries written before "due" existed are due at first_seen + the window)
Entry = dict[str, Any]
SEPARATOR = "|"  # never part of a fleetgraph id


def entry_key(partition: int, upsert: Upsert) -> str:
    return SEPARATOR.join((str(partition), *upsert.key))


def partition_of(key: str) -> int:
    """The source partition an entry key belongs to."""
    return int(key.split(SEPARATOR, 1)[0])


@dataclass(slots=True)
class _Live:
    first_seen: int  # when the key's window opened
    due: int  # when the entry is to be written
    count: int
    merged: Upsert | None  # None: written on the leading edge, nothing waiting since
    dirty: bool  # changed since last written to the mapping

    def entry(self) -> Entry:
        assert self.merged is not None, "an emptied entry is never written to the mapping"
        kind = "node" if isinstance(self.merged, NodeUpsert) else "edge"
        return {"first_seen": self.first_seen, "due": self.due, "count": self.count,
                "kind": kind, "type": self.merged.type, "record": to_record(self.merged)}

    @classmethod
    def of(cls, entry: Entry, window_us: int) -> _Live:
        merged = from_record(entry["kind"], entry["type"], entry["record"])
        first_seen = entry["first_seen"]
        due = entry.get("due", first_seen + window_us)
        return cls(first_seen, due, entry["count"], merged, dirty=False)


@dataclass(frozen=True)
class Due:
    """Entries taken for writing, with the version of each at the time."""

    upserts: list[Upsert]
    versions: dict[str, int]  # entry key -> count when taken

    def __len__(self) -> int:
        return len(self.upserts)


class MappedDedup:
    """Updates merged by key as ``DedupBuffer`` merges them, kept in a mapping, due
    on the wall clock and taken by a timer (:meth:`take_due`, then :meth:`forget`)."""

    def __init__(
        self,
        entries: MutableMapping[str, Entry],
        window_us: int,
        *,
        max_entries: int = 200_000,
        clock: Callable[[], int] = wall_clock_us,
        write_behind: bool = False,
        mode: DedupMode = "leading",
        max_hold_us: int | None = None,
    ) -> None:
        if window_us < 0 or max_entries < 1 or (max_hold_us is not None and max_hold_us < 0):
            raise ValueError("window_us and max_hold_us must be >= 0 and max_entries >= 1")
        if mode not in DEDUP_MODES:
            raise ValueError(f"dedup mode must be one of {', '.join(DEDUP_MODES)}, not {mode!r}")
        self.entries = entries
        self.window_us = window_us
        # how long an update waits at most (on top of the write): the window by default
        self.hold_us = window_us if max_hold_us is None else min(max_hold_us, window_us)
        self.max_entries = max_entries
        self.clock = clock
        self.write_behind = write_behind
        self.leading = mode == "leading"
        self.taken_in = 0
        self.collapsed = 0  # updates merged into an earlier one of the same entry
        self.flushed = 0  # entries written and then deleted or emptied
        self.persisted = 0  # entries written to the mapping
        self.unmapped = 0  # entries deleted from the mapping once written (tombstones)
        self._waiting: Counter[int] = Counter()  # source partition -> entries waiting in memory
        self._live: dict[str, _Live] = {}
        self._leading: dict[str, None] = {}  # keys due on their leading edge, oldest first
        self._in_flight: set[str] = set()  # taken, neither forgotten nor released yet
        self._held: list[tuple[int, str]] = []  # (due, key) of updates held: a heap

    def __len__(self) -> int:
        return self.pending()

    def keys(self, partitions: Container[int] | None = None) -> set[str]:
        """Keys of the entries with updates waiting (of ``partitions``), in memory or
        in the mapping; not the emptied ones, which only keep a window open."""
        keys = {key for key, live in self._live.items() if live.merged is not None}
        keys.update(self.entries)
        if partitions is None:
            return keys
        return {key for key in keys if partition_of(key) in partitions}

    def waiting(self, partitions: Container[int] | None = None) -> int:
        """Entries with updates waiting in memory (of ``partitions``): :meth:`pending`
        without the entries recovered into the mapping that no scan has taken into
        memory yet (the next scan does), counted as they change, not by a pass over
        the keys: for the backpressure gate, which asks every few milliseconds."""
        if partitions is None:
            return sum(self._waiting.values())
        return sum(n for partition, n in self._waiting.items() if partition in partitions)

    def _get(self, key: str) -> _Live | None:
        live = self._live.get(key)
        if live is None:
            entry = self.entries.get(key)
            if entry is not None:  # recovered from the changelog
                live = self._live[key] = _Live.of(entry, self.window_us)
                self._waiting[partition_of(key)] += 1
        return live

    def take_in(self, partition: int, upserts: Iterable[Upsert]) -> None:
        """Merge updates from source ``partition`` into their entries (copies: the
        caller keeps its upserts); they are due on the clock, to :meth:`take_due`."""
        for upsert in upserts:
            self.taken_in += 1
            key = entry_key(partition, upsert)
            live = self._get(key)
            if live is None:
                now = self.clock()
                if self.leading:
                    live = _Live(now, now, 1, _copy(upsert), dirty=True)
                    self._leading[key] = None
                else:
                    live = _Live(now, now + self.hold_us, 1, _copy(upsert), dirty=True)
                    heapq.heappush(self._held, (live.due, key))
                self._live[key] = live
                self._waiting[partition] += 1
            elif live.merged is None:  # the first update after a write, its window open
                live.merged = _copy(upsert)
                self._waiting[partition] += 1
                live.count += 1
                live.dirty = True
                self._hold(key, live)
            else:
                merge(live.merged, upsert)
                live.count += 1
                live.dirty = True
                self.collapsed += 1
            if not self.write_behind:
                self._write(key, live)

    def _hold(self, key: str, live: _Live) -> None:
        """Make ``live`` due ``hold_us`` from now, or at its window's end if sooner."""
        live.due = min(live.first_seen + self.window_us, self.clock() + self.hold_us)
        heapq.heappush(self._held, (live.due, key))

    def _write(self, key: str, live: _Live) -> None:
        self.entries[key] = live.entry()
        live.dirty = False
        self.persisted += 1

    def persist(self) -> int:
        """Write every entry changed since the last call to the mapping; return how many."""
        dirty = [(key, live) for key, live in self._live.items() if live.dirty]
        for key, live in dirty:
            self._write(key, live)
        return len(dirty)

    def pending(self, partitions: Container[int] | None = None) -> int:
        """Entries with updates waiting for ``partitions`` (all when None)."""
        return len(self.keys(partitions))

    def take_due(self, now: int | None = None, *, everything: bool = False,
                 partitions: Container[int] | None = None, scan: bool = True) -> Due:
        """Entries due at ``now`` (or beyond ``max_entries``, oldest first).

        ``partitions`` limits it to the source partitions this worker owns: a Faust
        table may still hold another worker's entries after a rebalance.
        ``scan=False`` looks only at the entries due on their leading edge and those
        whose due time was set in this process (a heap; cheap, for a short tick); a
        scan looks at every entry (those recovered from the mapping too) and closes
        the emptied windows that have passed.
        """
        now = self.clock() if now is None else now
        if not scan and not everything:
            return self._take_ticked(now, partitions)
        closed = [key for key, live in self._live.items()
                  if live.merged is None and live.first_seen + self.window_us <= now]
        for key in closed:
            del self._live[key]
        in_flight = set() if everything else self._in_flight
        lives = [(key, live) for key in self.keys(partitions) if key not in in_flight
                 and (live := self._get(key)) is not None and live.merged is not None]
        overflow = len(lives) - self.max_entries
        if not everything:  # the due ones, then the oldest beyond max_entries: no full sort
            due = [item for item in lives if item[1].due <= now]
            beyond = overflow - len(due)
            lives = sorted(due, key=_due_order) + (heapq.nsmallest(
                beyond, (item for item in lives if item[1].due > now), key=_due_order)
                if beyond > 0 else [])
        else:
            lives.sort(key=_due_order)
        upserts: list[Upsert] = []
        versions: dict[str, int] = {}
        for key, live in lives:
            assert live.merged is not None
            upserts.append(_copy(live.merged))
            versions[key] = live.count
            overflow -= 1
        self._in_flight.update(versions)
        return Due(upserts, versions)

    def _take_ticked(self, now: int, partitions: Container[int] | None) -> Due:
        upserts: list[Upsert] = []
        versions: dict[str, int] = {}

        def take(key: str, live: _Live) -> None:
            if key not in self._in_flight and key not in versions and (
                    partitions is None or partition_of(key) in partitions):
                assert live.merged is not None
                upserts.append(_copy(live.merged))
                versions[key] = live.count

        for key in list(self._leading):
            live = self._live.get(key)
            if live is None or live.merged is None or live.due != live.first_seen:
                del self._leading[key]  # written, or no longer due on its leading edge
            else:
                take(key, live)
        held = self._held
        while held and held[0][0] <= now:
            due, key = heapq.heappop(held)
            live = self._live.get(key)
            if live is not None and live.merged is not None and live.due == due:
                take(key, live)  # else written, or due at another time (pushed again)
        self._in_flight.update(versions)
        return Due(upserts, versions)

    def release(self, due: Due) -> None:
        """After writing ``due`` failed: its entries stay as they are, to be taken again."""
        self._in_flight.difference_update(due.versions)

    def forget(self, due: Due) -> int:
        """After ``due`` was written: delete the entries that did not change since
        taken, or, written before their window's end, empty them (the window stays
        open); an entry that changed stays, due ``hold_us`` later or at its
        window's end. Return how many were deleted or emptied."""
        now = self.clock()
        done = 0
        for key, count in due.versions.items():
            self._in_flight.discard(key)
            live = self._live.get(key)
            if live is None:
                continue
            window_end = live.first_seen + self.window_us
            on_leading_edge = live.due < window_end
            self._leading.pop(key, None)
            if live.count != count:  # updated while in flight: written again
                if on_leading_edge:
                    self._hold(key, live)
                    live.dirty = True
                else:
                    heapq.heappush(self._held, (live.due, key))
                continue
            if key in self.entries:
                del self.entries[key]
                self.unmapped += 1
            if live.merged is not None:
                self._waiting[partition_of(key)] -= 1
            if on_leading_edge and window_end > now:
                live.merged, live.due, live.dirty = None, window_end, False
            else:
                del self._live[key]
            done += 1
        self.flushed += done
        return done

    def drop(self, partitions: Container[int]) -> int:
        """Forget in memory (not in the mapping) the entries of partitions no longer ours."""
        gone = [key for key in self._live if partition_of(key) in partitions]
        for key in gone:
            if self._live.pop(key).merged is not None:
                self._waiting[partition_of(key)] -= 1
            self._leading.pop(key, None)
            self._in_flight.discard(key)
        return len(gone)

    def drain(self) -> list[Upsert]:
        """Every entry (of every partition), taken and forgotten at once."""
        due = self.take_due(everything=True)
        self.forget(due)
        self._live.clear()  # the windows left open, emptied
        self._waiting.clear()
        self._leading.clear()
        self._in_flight.clear()
        self._held.clear()
        return due.upserts


class TimerFlushedStage:
    """The pipeline's dedup stage on a worker (a ``Dedup``): ``add`` hands an
    event's updates to the MappedDedup, under the source partition of the message
    in hand, and returns none due; the worker's timer takes them."""

    def __init__(self, dedup: MappedDedup) -> None:
        self.dedup = dedup
        self.partition = 0  # the source partition of the message being processed

    @property
    def collapsed(self) -> int:
        return self.dedup.collapsed

    def add(self, upserts: Iterable[Upsert], now: int) -> list[Upsert]:
        """``now`` is the event time; the entries' window runs on the wall clock."""
        self.dedup.take_in(self.partition, upserts)
        return []

    def drain(self) -> list[Upsert]:
        return self.dedup.drain()


def _due_order(item: tuple[str, _Live]) -> tuple[int, int]:
    """The order entries are taken in: the earliest due first, then the first seen."""
    return item[1].due, item[1].first_seen


def _copy(upsert: Upsert) -> Upsert:
    prop_ts = dict(upsert.prop_ts) if upsert.prop_ts else None
    if isinstance(upsert, NodeUpsert):
        return NodeUpsert(upsert.type, upsert.id, dict(upsert.props), upsert.ts,
                          upsert.provenance, prop_ts, upsert.created)
    return EdgeUpsert(upsert.type, upsert.from_id, upsert.to_id, dict(upsert.props),
                      upsert.ts, upsert.provenance, prop_ts, upsert.created)
