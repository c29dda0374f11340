"""dataResidency: where a dataset and everything made from it was processed and held.

See docs/queries.md ("dataResidency"). The items are the dataset and everything
DOWN-lineage of it over ``read`` / ``produced`` / ``derived_from``: from an item,
the jobs that ``read`` it (``read`` in) and the items ``derived_from`` it
(``derived_from`` in); from a job, what it ``produced`` (``produced`` out). The
walk goes on until nothing new is reached (or the item limit).

Store reads: one ``get_nodes`` (the dataset), then three ``neighbour_ids`` a level
of the walk (``read`` in and ``derived_from`` in of the new items, ``produced``
out of the new jobs: the ids only), then one ``node_values`` for the reading jobs
(their ``site_id``; three more reads when some have none, see
``lineage.job_sites``), one ``cached_at`` out for every item (the intervals), one
``node_values`` for the sites (their ``jurisdiction``). Reads that do not wait for
each other go to the store together (``GraphStore.together``: at once on a remote
backend): a level's ``read`` and ``derived_from`` (and, first, the dataset's node),
then the jobs' sites and the items' replicas. The count grows with the
length of the lineage chain, never with the number of items, jobs or sites; but its
CPU grows with the answer's places (~100 µs a place at the full fleet).

Without a window, both queries read the pipeline's ``residency`` read model instead
(:mod:`fleetgraph.ingest.read_models.residency`, read by :mod:`.residency_rows`): one
``get_read_models`` for the dataset's header, one for the chunks of places (and, for
dataResidency, of the lineage's items) the answer needs and the process has not
decoded yet; the held spans are in the rows. ``residency_summary``
(dataResidencySummary) is the bounded form: its page's chunks only. With a window, or
where the rows do not hold (no header, computed after ``now_us`` or past its validity,
a lineage past ``limit``, a start that is no dataset, a chunk missing), the walk:
dataResidency's as above; the summary's with the replica pairs as ids and the
intervals of one page's items only. The walk is the reference the read model is
tested against.

The replicas (the ``cached_at`` intervals, and the pairs) come from the pipeline's
``replicas`` read model where its rows hold (:mod:`fleetgraph.ingest.read_models.
replicas`: one ``get_read_models`` for the items instead of folding each one's
history), and from the store for the items without one; both give what the store
gives for the window (``now_us``, default the wall clock: the store's now).

Readings of the text, where it leaves room:

* Processed at: the site of each job with a ``read`` edge to the item (jobs that
  only produced it do not count): its ``site_id`` property, or, without one, the
  sites its servers were in when each of its ``ran_on`` edges started (see
  ``lineage.job_sites``); a job never placed puts the item nowhere.
* Held at: the site of each of the item's ``cached_at`` intervals, whatever their
  time (past or present), read with history (docs/queries.md, "Horizons and
  history"): a replica evicted or expired long ago still counts. ``heldFrom`` /
  ``heldTo`` are the start of the first and the end of the last of the pair's
  intervals (within the window); an empty ``heldFrom`` is an unknown start (an
  eviction without a replication), an empty ``heldTo`` a replica still held.
* One place per (item, site), with both the jobs (sorted) and the replica when
  the item was processed and held there.
* The jurisdiction is the site node's ``jurisdiction`` property; a site without
  one (or with an empty one, or without a node) has none, which is never allowed.
* ``violations`` are the places whose jurisdiction is not in ``allowed``; both
  lists are sorted by item, then site.
* The start may be a dataset, artifact or model id; it must be stored or have a
  ``read``, ``derived_from`` or ``cached_at`` edge, otherwise NotFound.
* A window ``[from, to)`` (either side open) narrows the answer to that time: the
  walk follows only edges first written before ``to`` (what the graph held then);
  a reading job counts only when one of its ``ran_on`` intervals overlaps the
  window (one more read, ``ran_on`` out of the reading jobs); a replica only when
  its ``cached_at`` interval overlaps it. Without a window, all time.
* At most ``limit`` items (default 100,000); ``truncated`` says when the walk was
  cut (the items kept are the first reached, level by level in id order).
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.fleet import DATA_TYPES
from fleetgraph.graph_model.records import NodeRecord
from fleetgraph.ingest.read_models.replicas import replica_sites, replicas_within
from fleetgraph.ingest.read_models.residency import held_spans
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.lineage import job_sites_of
from fleetgraph.serving.queries.lookup import type_of
from fleetgraph.serving.queries.residency_rows import Place as Place  # the answer's, re-exported
from fleetgraph.serving.queries.residency_rows import header_at, places_of, whole_answer
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

DEFAULT_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Residency:
    dataset_id: str
    items: list[str]  # the dataset and everything DOWN-lineage of it, by id
    places: list[Place]  # by item, then site
    violations: list[Place]  # the places outside ``allowed``
    truncated: bool


def data_residency(
    store: GraphStore,
    dataset_id: str,
    allowed: Collection[str],
    limit: int = DEFAULT_LIMIT,
    window: TimeWindow | None = None,
    now_us: int | None = None,
) -> Residency:
    """Places of ``dataset_id`` and its DOWN-lineage, and those outside ``allowed``,
    within ``window`` (``None``: all time). Without a window, from the ``residency``
    read model's rows where they hold (:mod:`.residency_rows`); the walk otherwise."""
    now = wall_clock_us() if now_us is None else now_us
    allowed_set = set(allowed)
    if window is None and limit >= 1 and type_of(dataset_id) == "dataset":
        header = header_at(store, dataset_id, limit, now)
        rows = None if header is None else whole_answer(store, header)
        if rows is not None:
            items, places = rows
            return Residency(dataset_id, items, places,
                             [p for p in places if p.jurisdiction not in allowed_set], False)
    walk = _walk(store, dataset_id, limit, window)
    # an unbounded window: every interval, history included (no window: live only)
    processed, replicas = store.together(
        lambda: _processed(store, walk.readers, window),
        lambda: replicas_within(store, walk.items, window or TimeWindow(), now))
    spans = held_spans(replicas)
    keys = sorted(processed.keys() | spans.keys())
    jurisdictions = _jurisdictions(store, keys)
    places = [_place(item, site, jurisdictions, processed, spans) for item, site in keys]
    walk.check_found(places)
    violations = [p for p in places if p.jurisdiction not in allowed_set]
    return Residency(dataset_id, walk.items, places, violations, walk.truncated)


@dataclass
class _Walk:
    """The dataset and its DOWN-lineage (``items``, by id), the jobs that read each."""

    dataset_id: str
    found: bool  # the dataset has a node
    items: list[str]
    readers: dict[str, set[str]]
    truncated: bool

    def check_found(self, places: Collection[object]) -> None:
        if not self.found and len(self.items) == 1 and not self.readers and not places:
            raise NotFound(f"no dataset {self.dataset_id!r} in the graph")


def _walk(store: GraphStore, dataset_id: str, limit: int, window: TimeWindow | None) -> _Walk:
    if type_of(dataset_id) not in DATA_TYPES:
        raise InvalidArgument(f"{dataset_id!r} is not a dataset, artifact or model id")
    if limit < 1:
        raise InvalidArgument(f"limit must be at least 1, got {limit}")
    if window is not None and window.start is not None and window.end is not None and (
        window.end < window.start
    ):
        raise InvalidArgument("the window ends before it starts ('to' < 'from')")
    # first written before the window's end (times are integer microseconds)
    last = None if window is None or window.end is None else window.end - 1
    items: dict[str, None] = {dataset_id: None}
    readers: dict[str, set[str]] = {}  # item -> jobs that read it
    seen_jobs: set[str] = set()
    frontier = [dataset_id]
    truncated = False
    found: Collection[str] = ()
    while frontier and not truncated:
        nodes, reads, derived = _level(store, frontier, last,
                                       [dataset_id] if frontier[0] == dataset_id else [])
        found = found or nodes.keys()
        new_jobs: set[str] = set()
        reached: set[str] = set()
        for item in frontier:
            item_readers = reads.get(item)
            if item_readers:
                readers.setdefault(item, set()).update(item_readers)
                new_jobs.update(item_readers)
            reached.update(derived.get(item, ()))
        new_jobs -= seen_jobs
        seen_jobs |= new_jobs
        if new_jobs:
            produced = store.neighbour_ids("produced", sorted(new_jobs), Direction.OUT,
                                           recorded_by=last)
            for made in produced.values():
                reached.update(made)
        fresh = sorted(reached - items.keys())
        room = limit - len(items)
        if len(fresh) > room:
            fresh, truncated = fresh[:room], True
        items.update(dict.fromkeys(fresh))
        frontier = fresh
    return _Walk(dataset_id, dataset_id in found, sorted(items), readers, truncated)


def _level(
    store: GraphStore, frontier: list[str], last: int | None, nodes: list[str]
) -> tuple[dict[str, NodeRecord], dict[str, list[str]], dict[str, list[str]]]:
    """One level of the walk's reads, at once: the nodes ``nodes`` (the dataset's, on
    the first level), the readers of ``frontier`` and the items derived from it."""
    return store.together(
        lambda: store.get_nodes(nodes) if nodes else {},
        lambda: store.neighbour_ids("read", frontier, Direction.IN, recorded_by=last),
        lambda: store.neighbour_ids("derived_from", frontier, Direction.IN, recorded_by=last))


def _processed(
    store: GraphStore, readers: dict[str, set[str]], window: TimeWindow | None
) -> dict[tuple[str, str], list[str]]:
    """(item, site) -> the jobs (sorted) that read the item and ran at the site."""
    jobs = sorted({j for js in readers.values() for j in js})
    if window is not None and jobs:  # only the jobs that ran within the window
        ran = store.neighbours("ran_on", jobs, Direction.OUT, window)
        jobs = [j for j in jobs if ran.get(j)]
        kept = set(jobs)
        readers = {item: js & kept for item, js in readers.items()}
    sites_of = job_sites_of(store, jobs, store.node_values(jobs, "site_id")) if jobs else {}
    processed: dict[tuple[str, str], list[str]] = {}
    for item, item_jobs in readers.items():
        for job in sorted(item_jobs):
            for site in sites_of[job]:
                processed.setdefault((item, site), []).append(job)
    return processed


def _jurisdictions(store: GraphStore, keys: Collection[tuple[str, str]]) -> dict[str, str | None]:
    """The jurisdiction of each site of ``keys`` (None: none known)."""
    sites = sorted({site for _, site in keys})
    values = store.node_values(sites, "jurisdiction") if sites else {}
    return {site: value if isinstance(value := values.get(site), str) and value else None
            for site in sites}


def _place(
    item: str,
    site: str,
    jurisdictions: Mapping[str, str | None],
    processed: Mapping[tuple[str, str], list[str]],
    spans: Mapping[tuple[str, str], tuple[int | None, int | None]],
) -> Place:
    span = spans.get((item, site))
    return Place(
        item_id=item,
        site_id=site,
        jurisdiction=jurisdictions[site],
        jobs=processed.get((item, site), []),
        held=span is not None,
        held_from=None if span is None else span[0],
        held_to=None if span is None else span[1],
    )


# --- the bounded form: totals, a summary per jurisdiction, one page of places -----------


@dataclass(frozen=True, slots=True)
class JurisdictionResidency:
    """What of the answer is in one jurisdiction (``None``: sites without one)."""

    jurisdiction: str | None
    allowed: bool
    sites: int  # distinct sites
    items: int  # distinct items processed or held there
    places: int  # (item, site) places
    processed: int  # places with a reading job
    held: int  # places with a replica


@dataclass(frozen=True, slots=True)
class ResidencySummary:
    """The totals of :func:`data_residency`'s answer, per jurisdiction, and one page of
    its places (or only its violations), by item then site, after a cursor."""

    dataset_id: str
    item_count: int
    place_count: int
    violation_count: int
    jurisdictions: list[JurisdictionResidency]  # by jurisdiction (None last)
    page: list[Place]
    next_after: str | None  # the cursor of the next page; None: this page is the last
    truncated: bool


MAX_PAGE = 1000


def residency_summary(
    store: GraphStore,
    dataset_id: str,
    allowed: Collection[str],
    first: int = 100,
    after: str | None = None,
    violations_only: bool = True,
    limit: int = DEFAULT_LIMIT,
    window: TimeWindow | None = None,
    now_us: int | None = None,
) -> ResidencySummary:
    """:func:`data_residency`'s answer, bounded: its counts, a summary per jurisdiction,
    and the first ``first`` (at most MAX_PAGE) places after the cursor ``after`` (a
    previous page's ``next_after``), only the violations unless ``violations_only`` is
    False. The page's places equal the full answer's.

    Store reads: the walk and the jobs' sites as :func:`data_residency`; the replica
    pairs as ids (``neighbour_ids`` of ``cached_at``, history included; a store reads
    only the pairs when the window is unbounded; with a bounded window the replicas
    rows where they hold, the intervals otherwise), the sites' jurisdictions, then the
    intervals of the page's items only (their held spans: rows, or the store)."""
    if not 1 <= first <= MAX_PAGE:
        raise InvalidArgument(f"'first' must be between 1 and {MAX_PAGE}, got {first}")
    start_after = _cursor_key(after)
    now = wall_clock_us() if now_us is None else now_us
    if window is None and limit >= 1 and type_of(dataset_id) == "dataset":
        from_rows = _summary_from_rows(store, dataset_id, set(allowed), first, start_after,
                                       violations_only, limit, now)
        if from_rows is not None:
            return from_rows
    walk = _walk(store, dataset_id, limit, window)
    processed, held_at = store.together(
        lambda: _processed(store, walk.readers, window),
        lambda: replica_sites(store, walk.items, window or TimeWindow(), now))
    pairs = {(item, site) for item, sites in held_at.items() for site in sites}
    keys = sorted(processed.keys() | pairs)
    jurisdictions = _jurisdictions(store, keys)
    walk.check_found(keys)
    allowed_set = set(allowed)
    wanted = [k for k in keys if not violations_only or jurisdictions[k[1]] not in allowed_set]
    violation_count = len(wanted) if violations_only else sum(
        1 for _, site in keys if jurisdictions[site] not in allowed_set)
    begin = 0 if start_after is None else bisect.bisect_right(wanted, start_after)
    chosen = wanted[begin : begin + first]
    page_items = sorted({key[0] for key in chosen if key in pairs})
    spans = held_spans(replicas_within(store, page_items, window or TimeWindow(),
                                       now)) if page_items else {}
    page = [_place(item, site, jurisdictions, processed, spans) for item, site in chosen]
    more = begin + first < len(wanted)
    return ResidencySummary(
        dataset_id=dataset_id,
        item_count=len(walk.items),
        place_count=len(keys),
        violation_count=violation_count,
        jurisdictions=_by_jurisdiction(keys, jurisdictions, processed, pairs, allowed_set),
        page=page,
        next_after=_cursor(chosen[-1]) if more and chosen else None,
        truncated=walk.truncated,
    )


def _summary_from_rows(
    store: GraphStore,
    dataset_id: str,
    allowed: set[str],
    first: int,
    start_after: tuple[str, str] | None,
    violations_only: bool,
    limit: int,
    now: int,
) -> ResidencySummary | None:
    """:func:`residency_summary` without a window from the ``residency`` read model: the
    header and the chunks holding the page; None when the rows do not hold (no header,
    not at ``now``, past ``limit``, a chunk missing or of another computation): the
    caller walks."""
    header = header_at(store, dataset_id, limit, now)
    if header is None:
        return None

    def wanted(jurisdiction: str | None) -> bool:
        return not violations_only or jurisdiction not in allowed

    begin = 0 if start_after is None else max(
        0, bisect.bisect_right(header.chunk_firsts, start_after) - 1)
    needed: list[int] = []
    beyond = 0  # wanted places in the chunks after the first one read
    for n in range(begin, len(header.chunk_firsts)):
        count = sum(c for name, c in header.chunk_counts[n].items() if wanted(name))
        if count:
            needed.append(n)
            beyond += count if n > begin else 0
            if beyond > first:
                break
    found = places_of(store, header, needed)
    if found is None:
        return None
    places = [p for p in found if wanted(p.jurisdiction)
              and (start_after is None or (p.item_id, p.site_id) > start_after)]
    page = places[:first]
    return ResidencySummary(
        dataset_id=dataset_id,
        item_count=header.item_count,
        place_count=sum(j.places for j in header.jurisdictions),
        violation_count=sum(j.places for j in header.jurisdictions
                            if j.jurisdiction not in allowed),
        jurisdictions=[JurisdictionResidency(j.jurisdiction, j.jurisdiction in allowed,
                                             j.sites, j.items, j.places, j.processed, j.held)
                       for j in header.jurisdictions],
        page=page,
        next_after=_cursor((page[-1].item_id, page[-1].site_id)) if len(places) > first
        else None,
        truncated=False,
    )


def _by_jurisdiction(
    keys: list[tuple[str, str]],
    jurisdictions: Mapping[str, str | None],
    processed: Mapping[tuple[str, str], list[str]],
    held: Collection[tuple[str, str]],
    allowed: Collection[str],
) -> list[JurisdictionResidency]:
    groups: dict[str | None, list[tuple[str, str]]] = {}
    for key in keys:
        groups.setdefault(jurisdictions[key[1]], []).append(key)
    return [
        JurisdictionResidency(
            jurisdiction=name,
            allowed=name in allowed,
            sites=len({site for _, site in group}),
            items=len({item for item, _ in group}),
            places=len(group),
            processed=sum(1 for k in group if k in processed),
            held=sum(1 for k in group if k in held),
        )
        for name, group in sorted(groups.items(), key=lambda g: (g[0] is None, g[0] or ""))
    ]


def _cursor(key: tuple[str, str]) -> str:
    """An opaque cursor for the place ``key`` (item, site)."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _cursor_key(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        item, site = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"{cursor!r} is not a cursor of dataResidencySummary") from exc
    if not isinstance(item, str) or not isinstance(site, str):
        raise InvalidArgument(f"{cursor!r} is not a cursor of dataResidencySummary")
    return item, site
