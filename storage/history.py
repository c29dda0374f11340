"""History of the edge types that expire: every write kept, intervals rebuilt from it.

A type with a live TTL (``cached_at``) loses a record from its live namespace
once the record's last update is older than the TTL. Its history namespace keeps
every write (one row per edge, event time and event id, clustered by event time)
for the type's history retention, so as-of and audit reads still see it. Both
backends store the same rows; this module turns them into intervals and merges
them with the live records (docs/queries.md, "Horizons and history"):

* A write that opens (sets ``valid_from``) starts an interval unless one is open;
  one that closes (sets ``valid_to``) ends the open interval there, or, with none
  open, ends an interval of unknown start: its ``valid_from`` is the end of the
  pair's previous interval, or empty when there is none. Any other write (an
  access) is evidence of presence: it updates the open interval, or opens one at
  its own time when none is open (an access proves the replica was there then).
* An open interval whose last write is a TTL old is closed at its expiry (last
  write + TTL): the replica was not refreshed, so the graph stops holding it.
* Properties within an interval merge newest event time first (ties: by event id).
* A window ``[start, end)`` gets the intervals, as known now, that overlap it:
  every write of the ids asked for is read (in event time order), so an
  interval's end and an eviction's unknown start are known even when written
  after ``end``.
* Merge with the live namespace: the pair's last interval, when open, takes the
  live record's values (except its start); when closed, the live record adds
  the interval it tells of after it, if any (a later eviction: from that end
  on; a later replication); a pair with a live record but no history (written
  before history existed) is reported from the live record alone, by the same
  rules: without start or end (only accesses), it starts at its first write;
  with an end and no start, its start is unknown.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetgraph.graph_model.records import EdgeRecord, EdgeUpsert, Origin, Provenance
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.storage.base import Direction, TimeWindow


@dataclass(frozen=True, slots=True)
class Write:
    """One write of one edge as kept in history: the properties it set (``None``:
    set empty) at event time ``ts``."""

    from_id: str
    to_id: str
    ts: int
    props: dict[str, Any]
    provenance: Provenance

    @property
    def order(self) -> tuple[int, str]:
        return self.ts, self.provenance.event_id

    @property
    def opens(self) -> bool:
        return self.props.get(VALID_FROM) is not None and self.props.get(VALID_TO) is None

    @property
    def closes(self) -> bool:
        return self.props.get(VALID_TO) is not None


def writes_of(upsert: EdgeUpsert) -> list[Write]:
    """An upsert as history writes: one per event time it carries (a merged upsert,
    see ``fleetgraph.ingest.stages.dedup``, holds properties of several)."""
    prop_ts = upsert.prop_ts or {}
    groups: dict[int, dict[str, Any]] = {upsert.ts: {}}
    for name, value in upsert.props.items():
        groups.setdefault(prop_ts.get(name, upsert.ts), {})[name] = value
    return [
        Write(upsert.from_id, upsert.to_id, ts, props, upsert.provenance)
        for ts, props in sorted(groups.items())
    ]


class _Interval:
    """One interval being folded from a pair's writes (a plain class: one is made per
    interval of every pair a window read meets)."""

    __slots__ = ("end", "first", "last", "props", "start")

    def __init__(self, start: int | None, first: Write, end: int | None = None) -> None:
        self.start = start
        self.first = first
        self.props: dict[str, Any] = {}
        self.last: Write | None = None
        self.end = end

    def apply(self, write: Write) -> None:
        props = self.props
        for k, v in write.props.items():
            if k != VALID_FROM and k != VALID_TO:
                props[k] = v
        self.last = write

    def record(self, edge_type: str) -> EdgeRecord:
        last = self.last or self.first
        props = {k: v for k, v in self.props.items() if v is not None}
        if self.start is not None:
            props[VALID_FROM] = self.start
        if self.end is not None:
            props[VALID_TO] = self.end
        origin = Origin(self.first.ts, self.first.provenance.event_id, last.ts, last.provenance)
        return EdgeRecord(edge_type, self.first.from_id, self.first.to_id, props, origin)


def intervals(
    edge_type: str, writes: Iterable[Write], ttl_us: int, now_us: int
) -> list[EdgeRecord]:
    """The intervals of one edge (one from/to pair) from its writes, oldest first; see
    the module docstring."""
    done: list[_Interval] = []
    current: _Interval | None = None
    for write in sorted(writes, key=_ORDER):
        if current is not None and current.end is None:
            expiry = _expiry(current, ttl_us)
            if expiry <= write.ts:
                current.end = expiry
        if current is not None and current.end is None:
            current.apply(write)
            if write.closes:
                current.end = write.props[VALID_TO]
            continue
        if current is not None:
            done.append(current)
        previous_end = None if current is None else current.end
        if write.opens:
            current = _Interval(write.props[VALID_FROM], write)
        elif write.closes:
            start = write.props.get(VALID_FROM)
            current = _Interval(previous_end if start is None else start, write,
                                end=write.props[VALID_TO])
        else:
            current = _Interval(write.ts, write)
        current.apply(write)
    if current is not None:
        if current.end is None and _expiry(current, ttl_us) <= now_us:
            current.end = _expiry(current, ttl_us)
        done.append(current)
    return [interval.record(edge_type) for interval in done]


_ORDER = operator.attrgetter("ts", "provenance.event_id")  # Write.order, without the call


def _expiry(interval: _Interval, ttl_us: int) -> int:
    last = interval.last or interval.first
    return last.ts + ttl_us


def merge(
    edge_type: str,
    live: Mapping[str, list[EdgeRecord]],
    history: Mapping[str, Sequence[Write]],
    direction: Direction,
    window: TimeWindow,
    ttl_us: int,
    now_us: int,
) -> dict[str, list[EdgeRecord]]:
    """Per near id, the intervals overlapping ``window`` from history merged with the
    live records (see the module docstring), sorted by the far end, then start."""
    merged: dict[str, list[EdgeRecord]] = {}
    for near, records in live.items():
        by_far: dict[str, list[Write]] = {}
        for write in history.get(near, ()):
            far = write.to_id if direction is Direction.OUT else write.from_id
            by_far.setdefault(far, []).append(write)
        live_by_far = {record.other(near): record for record in records}
        found: list[EdgeRecord] = []
        for far in sorted(by_far.keys() | live_by_far.keys()):
            kept = intervals(edge_type, by_far.get(far, ()), ttl_us, now_us)
            found += [
                e for e in _with_live(kept, live_by_far.get(far))
                if window.overlaps(e.props.get(VALID_FROM), e.props.get(VALID_TO))
            ]
        merged[near] = found
    return merged


def _with_live(kept: list[EdgeRecord], live: EdgeRecord | None) -> list[EdgeRecord]:
    if live is None:
        return kept
    if not kept:  # no history (written before it existed): the live record, same rules
        return [_first_evidence(live)]
    last = kept[-1]
    live_start = live.props.get(VALID_FROM)
    if VALID_TO in last.props:
        return kept + _later(live, last.props[VALID_TO])
    props = {k: v for k, v in live.props.items() if k != VALID_FROM}
    if VALID_FROM in last.props:
        props[VALID_FROM] = last.props[VALID_FROM]
    elif live_start is not None:
        props[VALID_FROM] = live_start
    start, stop = props.get(VALID_FROM), props.get(VALID_TO)
    if stop is not None and start is not None and stop <= start:
        del props[VALID_TO]  # an eviction before this interval opened (by an access)
    origin = last.origin
    if origin is not None and live.origin is not None:
        origin = Origin(origin.created_at, origin.created_by, live.origin.updated_at,
                        live.origin.latest)
    return [*kept[:-1], EdgeRecord(last.type, last.from_id, last.to_id, props, origin)]


def _first_evidence(live: EdgeRecord) -> EdgeRecord:
    """A live record with neither start nor end (only accesses) starts at its first write."""
    if VALID_FROM in live.props or VALID_TO in live.props or live.origin is None:
        return live
    props = {**live.props, VALID_FROM: live.origin.created_at}
    return EdgeRecord(live.type, live.from_id, live.to_id, props, live.origin)


def _later(live: EdgeRecord, end: int) -> list[EdgeRecord]:
    """The live edge when it tells of an interval after one that ended at ``end``: a
    later eviction (its start unknown: from ``end`` on) or a later replication."""
    start, stop = live.props.get(VALID_FROM), live.props.get(VALID_TO)
    if stop is not None and stop > end:
        begin = end if start is None or start < end else start
        return [EdgeRecord(live.type, live.from_id, live.to_id,
                           {**live.props, VALID_FROM: begin}, live.origin)]
    if stop is None and start is not None and start >= end:
        return [live]
    return []
