"""Replicas: the read model modelHotness, placement's model part and dataResidency read
instead of folding ``cached_at`` history at query time.

One row per item (``artifact:`` or ``dataset:`` id, the ``from`` end of ``cached_at``),
key the item id, in the read model :data:`REPLICAS`: per site, the replica intervals
exactly as the store gives them for an unbounded window (``neighbours("cached_at",
[item], OUT, TimeWindow())``: history merged with the live edge, docs/queries.md
"Horizons and history"), each with its start, end, tier, last access and hits, and
what is needed to give, for ANY window, what ``neighbours`` with that window gives:

* The store merges a pair's live edge into its history only when the live edge's own
  interval overlaps the window asked. So each pair keeps the live edge's interval (when
  one was visible) and, when the live edge has an end (an eviction) and the pair's last
  interval from history alone is open, that interval as history alone gives it (one
  read with a window after every bound met: only open intervals overlap it). For a
  window the live edge misses, the pair's intervals are the unbounded ones with that
  last interval in place of the merged one (the other intervals the live edge adds lie
  within its own interval, so they miss the window too). A live edge without an end
  that misses the window (a window ending before the pair's latest replication):
  the row cannot tell, and the item is read from the store.
* The intervals depend on "now" only through the live TTL: a live edge stops being
  merged, and an open interval is closed at its expiry, its last write + 30 days. The
  row holds from its computation (``computed_at``) until the first such expiry after
  it (``valid_until``; none: it holds on). Every ``cached_at`` write recomputes its
  item (:mod:`fleetgraph.ingest.read_models.maintain`), so a row that holds is what
  the store would give.
* Only while the type keeps its history forever (the registry's ``history_seconds``
  None, the default): a retention would drop writes by age. With one, no rows are
  kept or read.

The queries read the rows of the items they need in one ``get_read_models`` and the
items without a row that holds (an older store not rebuilt, a row being recomputed)
from the store as before; both give the same intervals (tests/oracle).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.graph_model.records import EdgeRecord, EdgeUpsert
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

REPLICAS = "replicas"  # read model: item id -> its replicas (ItemReplicas.encode)
FORMAT = 1
CACHED_AT = "cached_at"
_TYPE = FLEET.edge(CACHED_AT)
TTL_US = (_TYPE.ttl_seconds or 0) * 1_000_000
KEPT = _TYPE.history_seconds is None and TTL_US > 0  # rows only with history kept forever
DECODED = 65_536  # rows kept decoded (a model's artifacts, a lineage's items)

Props = Mapping[str, Any]


class Replica(NamedTuple):
    """One interval of one (item, site) pair: what the queries read of a ``cached_at``
    record. ``props`` holds the other properties (tier, last_access, hits). A tuple:
    a row's are made by the thousand when it is decoded."""

    site_id: str
    start: int | None
    end: int | None
    props: Props

    @classmethod
    def of(cls, edge: EdgeRecord) -> Replica:
        props = {k: v for k, v in edge.props.items() if k != VALID_FROM and k != VALID_TO}
        return cls(edge.to_id, edge.props.get(VALID_FROM), edge.props.get(VALID_TO), props)

    def get(self, name: str) -> Any:
        """A property, as ``EdgeRecord.props.get`` gives it (valid_from and valid_to too)."""
        if name == VALID_FROM:
            return self.start
        if name == VALID_TO:
            return self.end
        return self.props.get(name)


class Pair(NamedTuple):
    """The replicas of an item at one site."""

    site_id: str
    intervals: tuple[Replica, ...]  # the unbounded read's, in the store's order
    live: tuple[int | None, int | None] | None  # the live edge's interval, when visible
    alone: Replica | None  # the last interval from history alone, when it differs


@dataclass(frozen=True, slots=True)
class ItemReplicas:
    """One item's row."""

    item_id: str
    computed_at_us: int
    valid_until_us: int | None
    pairs: tuple[Pair, ...]  # by site id

    def holds_at(self, now_us: int) -> bool:
        return self.computed_at_us <= now_us and (
            self.valid_until_us is None or now_us < self.valid_until_us)

    def within(self, window: TimeWindow) -> list[Replica] | None:
        """What ``neighbours("cached_at", [item], OUT, window)`` gives (as replicas), or
        None when the row cannot tell (see the module docstring)."""
        found: list[Replica] = []
        for pair in self.pairs:
            if not pair_within(pair, window.start, window.end, found):
                return None
        return found

    def encode(self) -> str:
        return json.dumps([
            FORMAT, self.computed_at_us, self.valid_until_us,
            [[p.site_id, *pair_fields(p)] for p in self.pairs],
        ], separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, item_id: str, text: str) -> ItemReplicas | None:
        """The row, or None when it cannot be read (another layout: read the store)."""
        try:
            version, computed, until, pairs = json.loads(text)
            if version != FORMAT:
                return None
            return cls(item_id, int(computed), None if until is None else int(until), tuple([
                pair_of(site, intervals, live, alone)
                for site, intervals, live, alone in pairs]))
        except (ValueError, TypeError, IndexError, KeyError):
            return None


def pair_within(pair: Pair, start: int | None, end: int | None, found: list[Replica]) -> bool:
    """Add to ``found`` the pair's replicas that ``neighbours`` gives for the window
    [``start``, ``end``); False when the pair cannot tell (its live edge, without an
    end, misses the window: see the module docstring)."""
    intervals = pair.intervals  # TimeWindow.overlaps, inlined (hot loop)
    live = pair.live
    if live is not None and not (
        (live[0] is None or end is None or live[0] < end)
        and (start is None or live[1] is None or start < live[1])
    ):
        if live[1] is None:
            return False
        if pair.alone is not None:
            intervals = (*intervals[:-1], pair.alone)
    for r in intervals:
        if (r.start is None or end is None or r.start < end) and (
                start is None or r.end is None or start < r.end):
            found.append(r)
    return True


def pair_fields(pair: Pair) -> list[Any]:
    """A pair as JSON values, without its site: intervals, live span, alone."""
    return [[_interval(r) for r in pair.intervals],
            None if pair.live is None else list(pair.live),
            None if pair.alone is None else _interval(pair.alone)]


def pair_of(site: str, intervals: Sequence[Sequence[Any]], live: Sequence[int | None] | None,
            alone: Sequence[Any] | None) -> Pair:
    """The pair of :func:`pair_fields`'s values at ``site`` (TypeError, ValueError,
    IndexError or KeyError when they are not a pair's)."""
    return Pair(site, tuple([Replica(site, start, end, props)
                             for start, end, props in intervals]),
                None if live is None else (live[0], live[1]),
                None if alone is None else Replica(site, *alone))


def _interval(replica: Replica) -> list[Any]:
    return [replica.start, replica.end, dict(replica.props)]


@lru_cache(maxsize=DECODED)
def _decoded(item_id: str, text: str) -> ItemReplicas | None:
    return ItemReplicas.decode(item_id, text)


def _bounds(edges: Iterable[EdgeRecord]) -> Iterable[int]:
    for edge in edges:
        for bound in (edge.props.get(VALID_FROM), edge.props.get(VALID_TO)):
            if isinstance(bound, int):
                yield bound


def _expiry(edge: EdgeRecord) -> int | None:
    return None if edge.origin is None else edge.origin.updated_at + TTL_US


def compute_replicas(
    store: GraphStore, item_ids: Iterable[str], at_us: int
) -> dict[str, ItemReplicas]:
    """The rows of ``item_ids`` as of ``at_us`` (the store's now): three batched reads
    (the unbounded intervals, the live edges, the open intervals from history alone of
    the items with an evicted live edge)."""
    asked = sorted(set(item_ids))
    if not asked:
        return {}
    merged = store.neighbours(CACHED_AT, asked, Direction.OUT, TimeWindow())
    live = store.neighbours(CACHED_AT, asked, Direction.OUT)
    evicted = [i for i in asked if any(VALID_TO in e.props for e in live.get(i, ()))]
    alone: dict[str, list[EdgeRecord]] = {}
    if evicted:
        met = [b for i in evicted for b in _bounds([*merged.get(i, ()), *live.get(i, ())])]
        after = TimeWindow(max(met, default=at_us) + 1, None)  # only open intervals reach it
        alone = store.neighbours(CACHED_AT, evicted, Direction.OUT, after)
    rows: dict[str, ItemReplicas] = {}
    for item in asked:
        by_site: dict[str, list[EdgeRecord]] = {}
        for edge in merged.get(item, ()):
            by_site.setdefault(edge.to_id, []).append(edge)
        lives = {e.to_id: e for e in live.get(item, ())}
        opens = {e.to_id: e for e in alone.get(item, ())}  # at most one a pair
        expiries = [_expiry(e) for e in lives.values()]
        expiries += [_expiry(e) for e in [*merged.get(item, ()), *opens.values()]
                     if VALID_TO not in e.props]
        pairs = []
        for site in sorted(by_site.keys() | lives.keys()):
            visible = lives.get(site)
            span = None if visible is None else (visible.props.get(VALID_FROM),
                                                 visible.props.get(VALID_TO))
            kept = opens.get(site) if span is not None and span[1] is not None else None
            pairs.append(Pair(site, tuple(Replica.of(e) for e in by_site.get(site, ())),
                              span, None if kept is None else Replica.of(kept)))
        until = min((e for e in expiries if e is not None and e > at_us), default=None)
        rows[item] = ItemReplicas(item, at_us, until, tuple(pairs))
    return rows


def replicas_within(
    store: GraphStore, item_ids: Sequence[str], window: TimeWindow, now_us: int
) -> dict[str, list[Replica]]:
    """What ``store.neighbours("cached_at", item_ids, OUT, window)`` gives, as replicas:
    from the rows that hold at ``now_us`` (one ``get_read_models``) and from the store
    for the other items (one ``neighbours``)."""
    found: dict[str, list[Replica]] = {}
    if KEPT and item_ids:
        for item, text in store.get_read_models(REPLICAS, item_ids).items():
            row = _decoded(item, text)
            if row is not None and row.holds_at(now_us):
                within = row.within(window)
                if within is not None:
                    found[item] = within
    missing = [i for i in item_ids if i not in found]
    if missing:
        for item, edges in store.neighbours(CACHED_AT, missing, Direction.OUT,
                                            window).items():
            found[item] = [Replica.of(e) for e in edges]
    return {i: found.get(i, []) for i in item_ids}


def replica_sites(
    store: GraphStore, item_ids: Sequence[str], window: TimeWindow, now_us: int
) -> dict[str, list[str]]:
    """What ``store.neighbour_ids("cached_at", item_ids, OUT, window=window)`` gives:
    the rows' sites where they hold, the store's for the other items. A window open
    on both sides asks the store for all: it reads the pairs without folding them."""
    found: dict[str, list[str]] = {}
    if KEPT and item_ids and (window.start is not None or window.end is not None):
        for item, text in store.get_read_models(REPLICAS, item_ids).items():
            row = _decoded(item, text)
            if row is not None and row.holds_at(now_us):
                within = row.within(window)
                if within is not None:
                    found[item] = list(dict.fromkeys(r.site_id for r in within))
    missing = [i for i in item_ids if i not in found]
    if missing:
        found.update(store.neighbour_ids(CACHED_AT, missing, Direction.OUT, window=window))
    return {i: found.get(i, []) for i in item_ids}


class ReplicaMaintainer:
    """Recomputes items' rows at ``clock()`` (the store's now) and writes them."""

    CHUNK = 500  # items per computation in a rebuild

    def __init__(self, store: GraphStore, clock: Callable[[], int]) -> None:
        self.store = store
        self.clock = clock
        self.recomputed = 0

    @staticmethod
    def touched(upserts: Iterable[object]) -> set[str]:
        """The items whose row a batch of upserts changes: the ``from`` end of every
        ``cached_at`` edge written."""
        return {u.from_id for u in upserts
                if isinstance(u, EdgeUpsert) and u.type == CACHED_AT}

    def invalidate(self, item_ids: Iterable[str]) -> None:
        """Delete the rows of ``item_ids`` (the queries read those items from the store
        until they are recomputed)."""
        asked = sorted(set(item_ids))
        if asked and KEPT:
            self.store.put_read_models(REPLICAS, dict.fromkeys(asked))

    def refresh(self, item_ids: Iterable[str]) -> None:
        rows = self.compute(sorted(set(item_ids)))
        self.store_rows(sorted(rows), rows)

    def compute(self, item_ids: Sequence[str]) -> dict[str, ItemReplicas]:
        """The rows of ``item_ids`` at ``clock()`` (none while rows are not kept)."""
        if not item_ids or not KEPT:
            return {}
        return compute_replicas(self.store, item_ids, self.clock())

    def store_rows(self, item_ids: Sequence[str], rows: dict[str, ItemReplicas]) -> None:
        """Write the rows of ``item_ids`` from ``rows``."""
        if item_ids:
            self.store.put_read_models(REPLICAS, {i: rows[i].encode() for i in item_ids})
            self.recomputed += len(item_ids)

    def item_ids(self, page: int = 5000) -> list[str]:
        """Every artifact and dataset node, every item with a ``cached_at`` edge (live or
        in history) to a site node, and every item with a row."""
        items: set[str] = set(self.store.get_read_models(REPLICAS))
        for node_type in sorted({*_TYPE.from_types, *_TYPE.to_types}):
            for records in self.store.scan_pages(node_type, page):
                ids = [r.id for r in records]
                if node_type in _TYPE.from_types:
                    items.update(ids)
                else:  # the items held there: the pairs only, history included
                    for held in self.store.neighbour_ids(CACHED_AT, ids, Direction.IN,
                                                         window=TimeWindow()).values():
                        items.update(held)
        return sorted(items)

    def rebuild(self) -> int:
        """Recompute the row of every item; returns the number of items."""
        if not KEPT:
            return 0
        items = self.item_ids()
        for i in range(0, len(items), self.CHUNK):
            self.refresh(items[i : i + self.CHUNK])
        return len(items)
