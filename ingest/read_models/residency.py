"""Residency: the read model dataResidencySummary reads instead of walking a dataset's
whole DOWN-lineage at query time.

Per dataset (key its id, in :data:`RESIDENCY`), a header: the number of items of its
DOWN-lineage (the dataset included), the counts of its places per jurisdiction (sites,
items, places, processed, held), and the places' chunks: the first place of each and
its places per jurisdiction. The places themselves, by item then site, sit in chunks of
:data:`CHUNK` rows (:data:`RESIDENCY_PLACES`, key ``<dataset>#<n>``): item, site,
jurisdiction, the reading jobs there (sorted), held or not, and the held span (the
start of the first and the end of the last of the pair's replica intervals). The
lineage's items, by id, sit in chunks of :data:`ITEM_CHUNK` (key ``<dataset>#items<n>``).
A summary reads the header and the chunks its page needs (those holding the wanted
places after the cursor): its cost follows its answer. The whole answer
(dataResidency without a window) reads the header and every chunk: its cost is their
decoding, a small constant a place, not the walk's ~100 µs a place at the full fleet.

A header of another :data:`FORMAT` (1: written before the spans and the items were
kept) is no header: the queries walk for that dataset until the sink recomputes it or
``fleetgraph read-models rebuild --only residency`` rewrites them all.

What a row is, is what dataResidency's walk (``serving/queries/residency.py``) gives
without a window, computed here on its own: the DOWN-lineage over ``read`` in,
``derived_from`` in and ``produced`` out; a reading job's site is its ``site_id``; the
held places are the ``cached_at`` pairs with history (``neighbour_ids`` with the
unbounded window); a site's jurisdiction its node's ``jurisdiction`` (empty or missing:
none). No row is kept (the query walks) for a dataset without a node, one whose
lineage has more than :data:`LIMIT` items, or one read by a job without a ``site_id``
that ran somewhere (its sites come from the containment at its start: the walk's own
business).

Rows hold from their computation (``computed_at``) until the first expiry of a live
``cached_at`` edge of their items (``valid_until``: its last write + the TTL; a pair
seen only live could then leave the answer). A header names its chunks' generation (a
hash of their contents); a chunk of another generation (a computation racing another)
makes the query walk.

A write touches the datasets UP-lineage of what it changes (:meth:`ResidencyMaintainer.
touched`): ``read`` (its item), ``produced`` and ``derived_from`` (their ``from`` end),
``cached_at`` (its item), a job's node written with a ``site_id`` (the items the job
read), ``ran_on`` of a job that has no ``site_id`` after the write (the same), a
dataset's node; the walk up goes over ``derived_from`` out, ``produced`` in and
``read`` out. The other writes of a job cannot change a row: a job's site is its
``site_id`` whenever it has one (its ``ran_on`` edges then place nothing), and the
store merges a node's properties one by one (a write without ``site_id`` leaves it).
In a replayed 1e5 fleet these were most of the writes (ran_on 29k, job nodes without
a ``site_id`` 11k, of 100k). A site node written with a ``jurisdiction``, or a walk up
past :data:`UP_BUDGET` nodes, touches every dataset with a header.

The touched headers are deleted at once (a query never reads a row older than the
graph) and recomputed later (``maintain.MaintainingStoreSink``): edited from the header
deleted first and its chunks, with what every write since changed (:class:`Change`;
the places of the items it changed and of the lineage's new items recomputed, the
others kept: :meth:`ResidencyMaintainer.edit`), where that header still holds; computed
whole otherwise (no header then, a site's jurisdiction, the walk up's budget, the
header's first live expiry passed, its chunks rewritten). An edit costs the header's
chunks and the changed items' reads, not the lineage's walk. Several writers at once
(Kafka sink workers) may race as the site states do: one computes a dataset before
another's write lands and stores its row after that write deleted the header (an edit
by a writer that did not see another's write misses it too); the next write touching
the dataset, or a rebuild, mends it.

Sizes at 1000 sites, 7 days (60 datasets): 60 headers (at most 6 KB), 851 chunks
(22 KB on average, at most 162 KB: a dataset's own places carry many jobs); a rebuild
took 67 s (25 CPU-s) on the embedded store.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from fleetgraph.graph_model.intervals import none_first, none_last
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Upsert
from fleetgraph.ingest.read_models.replicas import CACHED_AT, TTL_US, Replica, replicas_within
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

RESIDENCY = "residency"  # read model: dataset id -> its header (DatasetResidency.encode)
RESIDENCY_PLACES = "residency_places"  # "<dataset>#<n>" -> one chunk of its places
FORMAT = 2  # 1: without the held spans and the items (no longer read: the query walks)
CHUNK = 256  # places a chunk
ITEM_CHUNK = 4096  # item ids a chunk of the lineage's items
LIMIT = 100_000  # items of a lineage kept in a row (dataResidency's default limit)
UP_BUDGET = 50_000  # nodes a walk up may reach before every header is touched
CHANGE_LIMIT = 4096  # ids and edges a dataset's pending change keeps; more: recompute whole

# item, site, jurisdiction, jobs, held, held from, held to
PlaceRow = tuple[str, str, str | None, list[str], bool, int | None, int | None]


@dataclass(frozen=True, slots=True)
class JurisdictionCounts:
    jurisdiction: str | None
    sites: int
    items: int
    places: int
    processed: int
    held: int


@dataclass(frozen=True, slots=True)
class DatasetResidency:
    """One dataset's header."""

    dataset_id: str
    generation: str
    computed_at_us: int
    valid_until_us: int | None
    item_count: int
    jurisdictions: tuple[JurisdictionCounts, ...]  # by jurisdiction, None last
    chunk_firsts: tuple[tuple[str, str], ...]  # the first place of each chunk
    chunk_counts: tuple[dict[str | None, int], ...]  # each chunk's places by jurisdiction
    item_chunks: int  # chunks of the lineage's items

    def holds_at(self, now_us: int) -> bool:
        return self.computed_at_us <= now_us and (
            self.valid_until_us is None or now_us < self.valid_until_us)

    def encode(self) -> str:
        return json.dumps([
            FORMAT, self.generation, self.computed_at_us, self.valid_until_us,
            self.item_count,
            [[j.jurisdiction, j.sites, j.items, j.places, j.processed, j.held]
             for j in self.jurisdictions],
            [list(first) for first in self.chunk_firsts],
            [sorted(counts.items(), key=_by_name) for counts in self.chunk_counts],
            self.item_chunks,
        ], separators=(",", ":"))

    @classmethod
    def decode(cls, dataset_id: str, text: str) -> DatasetResidency | None:
        """The header, or None when it cannot be read (another layout: walk)."""
        try:
            version, *fields = json.loads(text)
            if version != FORMAT:
                return None
            generation, computed, until, items, juris, firsts, counts, item_chunks = fields
            return cls(dataset_id, str(generation), int(computed),
                       None if until is None else int(until), int(items),
                       tuple(JurisdictionCounts(*j) for j in juris),
                       tuple((str(i), str(s)) for i, s in firsts),
                       tuple({name: int(n) for name, n in chunk} for chunk in counts),
                       int(item_chunks))
        except (ValueError, TypeError, IndexError, KeyError):
            return None


def _by_name(entry: tuple[str | None, Any]) -> tuple[bool, str]:
    return entry[0] is None, entry[0] or ""


def chunk_key(dataset_id: str, index: int) -> str:
    return f"{dataset_id}#{index}"


def item_chunk_key(dataset_id: str, index: int) -> str:
    return f"{dataset_id}#items{index}"


def encode_chunk(generation: str, rows: Sequence[Sequence[Any]]) -> str:
    """A chunk of places (or of item ids) of the computation ``generation``."""
    return json.dumps([generation, [list(p) if isinstance(p, tuple) else p for p in rows]],
                      separators=(",", ":"))


def decode_chunk(text: str) -> tuple[str, list[PlaceRow]] | None:
    """A chunk's generation and places, or None when it cannot be read. Not cached
    here: the query keeps what it decoded by chunk and generation."""
    try:
        generation, places = json.loads(text)
        sites: dict[str, str] = {}  # one string a site, not one a place
        return str(generation), [
            (str(item), sites.setdefault(site, str(site)), jur, list(jobs), bool(held),
             start, end)
            for item, site, jur, jobs, held, start, end in places]
    except (ValueError, TypeError):
        return None


def decode_items(text: str) -> tuple[str, list[str]] | None:
    """An item chunk's generation and ids, or None when it cannot be read."""
    try:
        generation, items = json.loads(text)
        return str(generation), [str(i) for i in items]
    except (ValueError, TypeError):
        return None


@lru_cache(maxsize=4096)
def decoded_header(dataset_id: str, text: str) -> DatasetResidency | None:
    return DatasetResidency.decode(dataset_id, text)


# --- the computation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Computed:
    header: DatasetResidency
    chunks: tuple[str, ...]  # the places', encoded, in order
    item_chunks: tuple[str, ...]  # the items', encoded, in order


def compute_residency(store: GraphStore, dataset_id: str, at_us: int) -> Computed | None:
    """The row of ``dataset_id`` as of ``at_us``, or None when none is kept (see the
    module docstring)."""
    if not store.get_nodes([dataset_id]):
        return None
    lineage = _down(store, [dataset_id])
    if lineage is None:
        return None
    items, readers = lineage
    found = _rows(store, items, readers, at_us)
    if found is None:
        return None
    rows, expiries = found
    return _assemble(dataset_id, items, rows, at_us, min(expiries, default=None))


def _rows(store: GraphStore, items: list[str], readers: Mapping[str, Iterable[str]],
          at_us: int) -> tuple[list[PlaceRow], list[int]] | None:
    """The places of ``items`` (by item, then site) read by ``readers`` (item -> jobs),
    and the expiries after ``at_us`` of their live replicas; None when a reading job
    without a ``site_id`` ran somewhere."""
    jobs = sorted({j for js in readers.values() for j in js})
    job_sites = _job_sites(store, jobs)
    if job_sites is None:
        return None
    spans = held_spans(replicas_within(store, items, TimeWindow(), at_us))
    live = store.neighbours(CACHED_AT, items, Direction.OUT)
    places: dict[tuple[str, str], list[str]] = {}
    for item, item_jobs in readers.items():
        for job in sorted(item_jobs):
            site = job_sites.get(job)
            if site is not None:
                places.setdefault((item, site), []).append(job)
    keys = sorted(places.keys() | spans.keys())
    sites = sorted({site for _, site in keys})
    values = store.node_values(sites, "jurisdiction") if sites else {}
    juris = {s: v if isinstance(v := values.get(s), str) and v else None for s in sites}
    rows: list[PlaceRow] = []
    for i, s in keys:
        span = spans.get((i, s))
        rows.append((i, s, juris[s], places.get((i, s), []), span is not None,
                     None if span is None else span[0], None if span is None else span[1]))
    expiries = [e.origin.updated_at + TTL_US for edges in live.values() for e in edges
                if e.origin is not None and e.origin.updated_at + TTL_US > at_us]
    return rows, expiries


def held_spans(replicas: Mapping[str, Sequence[Replica]]
               ) -> dict[tuple[str, str], tuple[int | None, int | None]]:
    """(item, site) -> the start of the first and the end of the last of the pair's
    intervals (None: an unknown start, or still held), as dataResidency's ``heldFrom``
    and ``heldTo`` (``serving/queries/residency``)."""
    pairs: dict[tuple[str, str], list[Replica]] = {}
    for item, found in replicas.items():
        for r in found:
            pairs.setdefault((item, r.site_id), []).append(r)
    return {key: (min(intervals, key=lambda r: none_first(r.start)).start,
                  max(intervals, key=lambda r: none_last(r.end)).end)
            for key, intervals in pairs.items()}


def _assemble(dataset_id: str, items: list[str], rows: list[PlaceRow], at_us: int,
              valid_until: int | None) -> Computed:
    parts = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
    item_parts = [items[i : i + ITEM_CHUNK] for i in range(0, len(items), ITEM_CHUNK)]
    generation = hashlib.blake2b(json.dumps([CHUNK, ITEM_CHUNK, rows, items]).encode(),
                                 digest_size=8).hexdigest()
    counts: list[dict[str | None, int]] = []
    for part in parts:
        count: dict[str | None, int] = {}
        for row in part:
            count[row[2]] = count.get(row[2], 0) + 1
        counts.append(count)
    header = DatasetResidency(dataset_id, generation, at_us, valid_until, len(items),
                              _jurisdiction_counts(rows),
                              tuple((p[0][0], p[0][1]) for p in parts), tuple(counts),
                              len(item_parts))
    return Computed(header, tuple(encode_chunk(generation, p) for p in parts),
                    tuple(encode_chunk(generation, p) for p in item_parts))


def _jurisdiction_counts(rows: list[PlaceRow]) -> tuple[JurisdictionCounts, ...]:
    groups: dict[str | None, list[PlaceRow]] = {}
    for row in rows:
        groups.setdefault(row[2], []).append(row)
    return tuple(
        JurisdictionCounts(name, len({r[1] for r in group}), len({r[0] for r in group}),
                           len(group), sum(1 for r in group if r[3]),
                           sum(1 for r in group if r[4]))
        for name, group in sorted(groups.items(), key=_by_name))


def _down(store: GraphStore, roots: list[str], known: Collection[str] = ()
          ) -> tuple[list[str], dict[str, set[str]]] | None:
    """The DOWN-lineage of ``roots`` not in ``known`` (items, sorted; the walk stops at
    the known ones) and each such item's reading jobs; None past :data:`LIMIT` items,
    the known ones counted."""
    items = set(known) | set(roots)
    readers: dict[str, set[str]] = {}
    seen_jobs: set[str] = set()
    frontier = sorted(set(roots) - set(known))
    while frontier:
        reads, derived = _both(store, ("read", "derived_from"), frontier, Direction.IN)
        reached: set[str] = set()
        new_jobs: set[str] = set()
        for item in frontier:
            if reads.get(item):
                readers.setdefault(item, set()).update(reads[item])
                new_jobs.update(reads[item])
            reached.update(derived.get(item, ()))
        new_jobs -= seen_jobs
        seen_jobs |= new_jobs
        if new_jobs:
            for made in store.neighbour_ids("produced", sorted(new_jobs),
                                            Direction.OUT).values():
                reached.update(made)
        frontier = sorted(reached - items)
        items.update(frontier)
        if len(items) > LIMIT:
            return None
    return sorted(items.difference(known)), readers


def _both(store: GraphStore, types: tuple[str, str], ids: list[str], direction: Direction
          ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The ``neighbour_ids`` of ``ids`` over two edge types, read together."""
    return store.together(lambda: store.neighbour_ids(types[0], ids, direction),
                          lambda: store.neighbour_ids(types[1], ids, direction))


def _up_level(store: GraphStore, items: list[str]
              ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What ``items`` derive from and the jobs that produced them, read together."""
    return store.together(lambda: store.neighbour_ids("derived_from", items, Direction.OUT),
                          lambda: store.neighbour_ids("produced", items, Direction.IN))


def _job_sites_only(store: GraphStore, jobs: list[str]) -> dict[str, str]:
    """Each job's ``site_id`` (jobs without one, or with an empty one, left out)."""
    values = store.node_values(jobs, "site_id") if jobs else {}
    return {j: v for j in jobs if isinstance(v := values.get(j), str) and v}


def _job_sites(store: GraphStore, jobs: list[str]) -> dict[str, str] | None:
    """Each job's ``site_id`` (jobs without one left out), or None when a job without
    one ran somewhere."""
    sites = _job_sites_only(store, jobs)
    unplaced = [j for j in jobs if j not in sites]
    if unplaced and any(store.neighbour_ids("ran_on", unplaced, Direction.OUT).values()):
        return None
    return sites


# --- the maintenance ----------------------------------------------------------------------


@dataclass
class Change:
    """What the writes since a dataset's header was deleted may have changed in its row:
    the header deleted (None: there was none, recompute), the items whose places may
    differ, the jobs whose site may differ (the items they read), the ``read``,
    ``produced`` and ``derived_from`` edges (type, from, to) that may have grown the
    lineage, or ``whole``: recompute (a site's jurisdiction, a walk up past its budget)."""

    header: str | None
    items: set[str] = field(default_factory=set)
    jobs: set[str] = field(default_factory=set)
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    whole: bool = False

    def add(self, other: Change) -> None:
        """Fold ``other`` in; past CHANGE_LIMIT ids and edges, ``whole`` instead: a
        dataset whose recomputation waits while the fleet writes on (an archive's
        replay, a large fleet) then keeps a flag, not every write since (each pending
        dataset held its own copy: gigabytes at the 1e7 fleet), and an edit that large
        costs about what the whole walk does."""
        if self.whole or other.whole or self.size + other.size > CHANGE_LIMIT:
            self.whole = True
            self.items, self.jobs, self.edges = set(), set(), set()
            return
        self.items |= other.items
        self.jobs |= other.jobs
        self.edges |= other.edges

    @property
    def size(self) -> int:
        """The ids and edges kept."""
        return len(self.items) + len(self.jobs) + len(self.edges)

    def copy(self) -> Change:
        return Change(self.header, set(self.items), set(self.jobs), set(self.edges),
                      self.whole)


class ResidencyMaintainer:
    """Finds the datasets a batch touches, deletes their headers, recomputes rows at
    ``clock()`` and writes them: from the deleted header's rows and what the writes
    since changed where it can (:meth:`edit`), the whole walk otherwise."""

    def __init__(self, store: GraphStore, clock: Callable[[], int]) -> None:
        self.store = store
        self.clock = clock
        self.recomputed = 0
        self.edited = 0  # of them, those edited from the rows deleted
        self._batch: Change | None = None  # what the batch last given to touched() changes
        self._changes: dict[str, Change] = {}  # dataset -> since its header was deleted
        self._lock = threading.Lock()  # the writer's marks against a recomputation

    def touched(self, upserts: Iterable[Upsert]) -> set[str]:
        """The datasets whose rows a written batch may change (see the module docstring)."""
        items: set[str] = set()
        jobs: set[str] = set()
        ran: set[str] = set()
        edges: set[tuple[str, str, str]] = set()
        every = False
        for u in upserts:
            if isinstance(u, EdgeUpsert):
                if u.type in ("read", "produced", "derived_from"):
                    edges.add((u.type, u.from_id, u.to_id))
                if u.type == "read" or u.type == CACHED_AT:
                    items.add(u.to_id if u.type == "read" else u.from_id)
                elif u.type in ("produced", "derived_from"):
                    items.add(u.to_id if u.type == "produced" else u.from_id)
                elif u.type == "ran_on":
                    ran.add(u.from_id)
            elif isinstance(u, NodeUpsert):
                if u.type == "job" and "site_id" in u.props:
                    jobs.add(u.id)
                elif u.type == "dataset":
                    items.add(u.id)
                elif u.type == "site" and "jurisdiction" in u.props:
                    every = True
        jobs |= self._unplaced(sorted(ran - jobs)) if not every else set()
        found = None if every else self._up(items, jobs)
        self._batch = Change(None, items, jobs, edges, whole=found is None)
        if found is None:
            return set(self.store.get_read_models(RESIDENCY))
        return found

    def _unplaced(self, jobs: list[str]) -> set[str]:
        """The jobs of ``jobs`` without a ``site_id`` (their ``ran_on`` edges place them)."""
        if not jobs:
            return set()
        return set(jobs) - _job_sites_only(self.store, jobs).keys()

    def _up(self, items: set[str], jobs: set[str]) -> set[str] | None:
        """The datasets UP-lineage of ``items`` and of what ``jobs`` read (None: past
        the budget)."""
        seen: set[str] = set()
        frontier = sorted(items)
        job_frontier = sorted(jobs)
        while frontier or job_frontier:
            if job_frontier:
                for read in self.store.neighbour_ids("read", job_frontier,
                                                     Direction.OUT).values():
                    frontier += read
            frontier = sorted(set(frontier) - seen)
            seen.update(frontier)
            if len(seen) > UP_BUDGET:
                return None
            if not frontier:
                break
            parents, makers = _up_level(self.store, frontier)
            job_frontier = sorted({j for js in makers.values() for j in js} - seen)
            seen.update(job_frontier)
            frontier = [p for ps in parents.values() for p in ps]
        return {n for n in seen if n.startswith("dataset:")}

    def invalidate(self, dataset_ids: Iterable[str]) -> None:
        """Delete the headers of ``dataset_ids`` (the query walks until recomputed),
        remembering each one deleted first and what the batch last given to
        :meth:`touched` changed (without one: recompute them whole)."""
        asked = sorted(set(dataset_ids))
        if not asked:
            return
        batch, self._batch = self._batch, None
        with self._lock:
            fresh = [d for d in asked if d not in self._changes]
            old = self.store.get_read_models(RESIDENCY, fresh) if fresh and batch else {}
            for dataset in asked:
                change = self._changes.setdefault(dataset, Change(old.get(dataset)))
                change.add(batch or Change(None, whole=True))
            self.store.put_read_models(RESIDENCY, dict.fromkeys(asked))

    def compute(self, dataset_ids: Sequence[str],
                spent: Callable[[], bool] = lambda: False) -> dict[str, Computed | None]:
        """The rows of ``dataset_ids`` at ``clock()``, one after another until
        ``spent()``; those not reached are left out. Each is edited from the header
        deleted first where :meth:`edit` can, computed whole otherwise."""
        with self._lock:
            changes = {d: self._changes[d].copy() for d in dataset_ids if d in self._changes}
        rows: dict[str, Computed | None] = {}
        at = self.clock()
        for dataset in dataset_ids:
            if rows and spent():
                break
            change = changes.get(dataset)
            edited = None if change is None else self.edit(dataset, change, at)
            if edited is not None:
                self.edited += 1
                rows[dataset] = edited[0]
            else:
                rows[dataset] = compute_residency(self.store, dataset, at)
        return rows

    def edit(self, dataset_id: str, change: Change, at_us: int
             ) -> tuple[Computed | None] | None:
        """The row of ``dataset_id`` at ``at_us`` from the rows of the header deleted
        first and ``change`` (in a 1-tuple; None in it: no row is kept), or None when
        it cannot be edited: no header then, or one that no longer holds at ``at_us``,
        its chunks gone or rewritten, ``whole``.

        The lineage only grows (edges are never removed): its new items are the
        DOWN-lineage, past the known items, of what the changed edges attach to a known
        item (the ``from`` end of a ``derived_from`` into one; what a job that reads
        one ``produced``). The places of the new items, of the changed items and of
        the items the changed jobs read are computed as :func:`compute_residency` does;
        the others are the header's. Its validity ends at the earlier of the header's
        and the recomputed items' first live expiry."""
        header = None if change.header is None or change.whole else decoded_header(
            dataset_id, change.header)
        if header is None or not header.holds_at(at_us):
            return None
        known_rows = self._stored(header)
        if known_rows is None:
            return None
        rows, items = known_rows
        known = set(items)
        grown = _down(self.store, sorted(self._roots(change.edges, known)), known)
        if grown is None:
            return (None,)
        new_items = grown[0]
        jobs = sorted(change.jobs)
        read = self.store.neighbour_ids("read", jobs, Direction.OUT) if jobs else {}
        again = sorted((change.items | {i for got in read.values() for i in got}) & known
                       | set(new_items))
        readers = self.store.neighbour_ids("read", again, Direction.IN) if again else {}
        found = _rows(self.store, again, readers, at_us)
        if found is None:
            return (None,)
        fresh, expiries = found
        redone = set(again)
        merged = sorted([r for r in rows if r[0] not in redone] + fresh,
                        key=lambda r: (r[0], r[1]))
        until = min([*expiries, *([] if header.valid_until_us is None
                                  else [header.valid_until_us])], default=None)
        return (_assemble(dataset_id, sorted(known | redone), merged, at_us, until),)

    def _stored(self, header: DatasetResidency) -> tuple[list[PlaceRow], list[str]] | None:
        """The places and items of ``header``'s chunks; None when one is missing or of
        another computation."""
        dataset = header.dataset_id
        places = [chunk_key(dataset, n) for n in range(len(header.chunk_firsts))]
        item_keys = [item_chunk_key(dataset, n) for n in range(header.item_chunks)]
        texts = self.store.get_read_models(RESIDENCY_PLACES, places + item_keys)
        rows: list[PlaceRow] = []
        items: list[str] = []
        for key in places:
            chunk = decode_chunk(texts[key]) if key in texts else None
            if chunk is None or chunk[0] != header.generation:
                return None
            rows += chunk[1]
        for key in item_keys:
            part = decode_items(texts[key]) if key in texts else None
            if part is None or part[0] != header.generation:
                return None
            items += part[1]
        return rows, items

    def _roots(self, edges: set[tuple[str, str, str]], known: set[str]) -> set[str]:
        """What the changed edges attach to the lineage ``known``: the ``from`` end of
        a ``derived_from`` into a known item, the products of a job that read one, the
        product of a ``produced`` by a job that reads one."""
        roots = {f for t, f, to in edges if t == "derived_from" and to in known}
        readers = sorted({f for t, f, to in edges if t == "read" and to in known})
        if readers:
            for made in self.store.neighbour_ids("produced", readers,
                                                 Direction.OUT).values():
                roots.update(made)
        makers = sorted({f for t, f, _ in edges if t == "produced"})
        if makers:
            reads = self.store.neighbour_ids("read", makers, Direction.OUT)
            roots |= {to for t, f, to in edges
                      if t == "produced" and known.intersection(reads.get(f, ()))}
        return roots - known

    def store_rows(self, dataset_ids: Sequence[str], rows: dict[str, Computed | None]) -> None:
        """Write the rows of ``dataset_ids`` from ``rows`` (chunks first, then the
        header); a dataset without a row loses its header."""
        for dataset in dataset_ids:
            row = rows[dataset]
            if row is None:
                self.store.put_read_models(RESIDENCY, {dataset: None})
                continue
            self.store.put_read_models(RESIDENCY_PLACES, {
                **{chunk_key(dataset, n): text for n, text in enumerate(row.chunks)},
                **{item_chunk_key(dataset, n): text
                   for n, text in enumerate(row.item_chunks)}})
            self.store.put_read_models(RESIDENCY, {dataset: row.header.encode()})
        self.recomputed += len(dataset_ids)
        with self._lock:
            for dataset in dataset_ids:
                self._changes.pop(dataset, None)

    def forget_all(self) -> None:
        """Delete every header (the query walks until a rebuild); none is edited later
        (what changed is unknown)."""
        self._batch = None
        self.invalidate(self.store.get_read_models(RESIDENCY))

    def dataset_ids(self, page: int = 5000) -> list[str]:
        return self.store.node_ids("dataset", page)

    def rebuild(self) -> int:
        """Recompute every dataset's row, delete the others' and stray chunks; returns
        the number of datasets."""
        datasets = self.dataset_ids()
        for dataset in datasets:
            self.store_rows([dataset], self.compute([dataset]))
        kept = set(datasets)
        gone = [d for d in self.store.get_read_models(RESIDENCY) if d not in kept]
        self._batch = None
        self.invalidate(gone)
        headers = {d: decoded_header(d, t)
                   for d, t in self.store.get_read_models(RESIDENCY).items()}
        wanted = {chunk_key(d, n) for d, h in headers.items() if h is not None
                  for n in range(len(h.chunk_firsts))}
        wanted |= {item_chunk_key(d, n) for d, h in headers.items() if h is not None
                   for n in range(h.item_chunks or 0)}
        stray = [k for k in self.store.get_read_models(RESIDENCY_PLACES) if k not in wanted]
        if stray:
            self.store.put_read_models(RESIDENCY_PLACES, dict.fromkeys(stray))
        return len(datasets)

