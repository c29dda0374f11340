"""Keeping the site-state read model up to date as the pipeline writes.

After a batch is written, the sites it touched are found and recomputed, all in
one batched computation (:func:`~fleetgraph.ingest.read_models.site_state.
compute_site_states`, the queries' own definition restricted to those sites), and
their rows written in one call per read model; a sink recomputes at most once a
second and deletes the touched sites' rows in between (:class:`MaintainingStoreSink`).
A site is touched by

* a write of its node (it may be new), an ``in_site`` or ``attached_to`` edge into it;
* an edge whose near end lies in it, found by walking up the containment edges over
  all time (``in_server``, ``in_rack``, ``in_site``): ``in_rack`` and ``in_server``
  (their container), ``cooled_by`` and ``powered_by`` (the rack), ``allocated`` (the
  GPU), ``had_fault`` (the component; for a CDU or power shelf also the racks it
  cools or feeds, for a switch the racks it is in).

A write of a site node (its telemetry too: jurisdiction, region and energy are kept
in the row) touches the site. Other writes (jobs, models, data) leave the summaries
as they are. Summaries are computed at the writer's clock (now) and hold until the
first interval boundary after it that they met (``site_state``); ``fleetgraph
read-models rebuild`` recomputes every site and marks the rows as the directory of
every site (:data:`~fleetgraph.ingest.read_models.site_state.DIRECTORY_KEY`).
After the rows of a recomputation (and at the end of a rebuild) it derives the
site order from every row (:mod:`~fleetgraph.ingest.read_models.site_order`: what
``placement(first: N)`` walks); a site marked unknown is marked pending there too.

The same sink keeps the ``replicas`` read model (:mod:`fleetgraph.ingest.read_models.
replicas`: per artifact or dataset, its ``cached_at`` intervals as the store folds them
from history): a ``cached_at`` write touches its ``from`` item; the touched items' rows
are deleted at once and recomputed with the sites (one batched computation at the same
pace), so a query never reads a row older than the graph (an item without a row is
read from the store). ``fleetgraph read-models rebuild`` recomputes every item too.
The models of the touched artifacts (and of an ``artifact_of`` write) lose their
``model_sites`` ranking rows at once the same way and are recomputed after the items
(:mod:`fleetgraph.ingest.read_models.model_sites`).

And the ``residency`` read model (:mod:`fleetgraph.ingest.read_models.residency`: per
dataset, its places and their counts per jurisdiction): a write touches the datasets
UP-lineage of what it changes; their headers are deleted at once (the summary walks)
and recomputed with the sites, one dataset after another for at most
:data:`RESIDENCY_BUDGET_S` a recomputation (a dataset's walk takes seconds at the full
fleet; the rest stay pending for the next one).

Several writers at once (Kafka sink workers) may race: one computes a site before
another's write lands and stores its row after the other's. Placement cannot tell;
the next write to the site or a rebuild mends it (see docs/queries.md, "placement").
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.fleet import UP_EDGES
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Upsert
from fleetgraph.ingest.read_models.model_sites import ModelSitesMaintainer
from fleetgraph.ingest.read_models.replicas import REPLICAS, ReplicaMaintainer
from fleetgraph.ingest.read_models.residency import ResidencyMaintainer
from fleetgraph.ingest.read_models.site_order import forget_order, mark_pending, refresh_order
from fleetgraph.ingest.read_models.site_state import (
    DIRECTORY_KEY,
    FORMAT,
    SITE_FREE_GPUS,
    SITE_STATE,
    STALE,
    Computed,
    compute_site_states,
    encode_free,
)
from fleetgraph.ingest.sinks import GraphWriter, StoreSink
from fleetgraph.storage.base import Direction, GraphStore, StorageUnavailable

log = logging.getLogger(__name__)

NEAR_END: dict[str, str] = {  # edge type -> the end whose site it touches
    "in_site": "to", "attached_to": "to", "in_rack": "to", "in_server": "to",
    "allocated": "to", "cooled_by": "from", "powered_by": "from", "had_fault": "from",
}
DEPENDENTS: dict[str, str] = {"cdu": "cooled_by", "power_shelf": "powered_by"}
REBUILD_CHUNK = 50  # sites per computation in a rebuild
REFRESH_EVERY_S = 1.0  # a sink recomputes touched sites at most this often
REFRESH_PACE = 9.0  # and waits this many times its last recomputation (10 % of its time)
RESIDENCY_BUDGET_S = 2.0  # a recomputation stops recomputing datasets' residency after


def _kind(node_id: str) -> str:
    return node_id.partition(":")[0]


LINKS = frozenset({"in_site", "attached_to", "in_rack", "in_server", "cooled_by",
                   "powered_by"})  # the edges sites_of walks: a write of one drops its cache
CACHE_LIMIT = 1_000_000  # ids whose sites are remembered


class SiteFinder:
    """``sites_of`` with a memory: the sites of each id asked, forgotten whenever a batch
    writes an edge that the walk follows (inventory changes are rare; jobs and faults,
    which do not move anything, are most of the stream)."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.known: dict[str, frozenset[str]] = {}

    def touched_sites(self, upserts: Iterable[Upsert]) -> set[str]:
        """The sites whose summary a batch of upserts may change."""
        sites: set[str] = set()
        near: set[str] = set()
        for upsert in upserts:
            if isinstance(upsert, NodeUpsert):
                if upsert.type == "site":
                    sites.add(upsert.id)
            elif isinstance(upsert, EdgeUpsert) and upsert.type in NEAR_END:
                if upsert.type in LINKS:
                    self.known.clear()
                near.add(upsert.to_id if NEAR_END[upsert.type] == "to" else upsert.from_id)
        unknown = [n for n in near if n not in self.known]
        if len(self.known) + len(unknown) > CACHE_LIMIT:
            self.known.clear()
            unknown = list(near)
        for node_id, found in sites_by_id(self.store, unknown).items():
            self.known[node_id] = frozenset(found)
        return sites.union(*(self.known[n] for n in near))


def touched_sites(store: GraphStore, upserts: Iterable[Upsert]) -> set[str]:
    """The sites whose summary a batch of upserts may change."""
    return SiteFinder(store).touched_sites(upserts)


def sites_by_id(store: GraphStore, ids: Iterable[str]) -> dict[str, set[str]]:
    """:func:`sites_of` of each id, in one walk for them all (one batched read per level
    and edge type)."""
    asked = sorted(set(ids))
    reached: dict[str, set[str]] = {n: {n} for n in asked}  # node -> the ids below it
    frontier = [n for n in asked if _kind(n) != "site"]
    while frontier:
        grew: set[str] = set()
        for node, ups in _step(store, frontier).items():
            for up in ups:
                below = reached.setdefault(up, set())
                size = len(below)
                below |= reached[node]
                if len(below) > size:
                    grew.add(up)
        frontier = sorted(n for n in grew if _kind(n) != "site")
    found: dict[str, set[str]] = {n: set() for n in asked}
    for node, below in reached.items():
        if _kind(node) == "site":
            for origin in below:
                found[origin].add(node)
    return found


def _step(store: GraphStore, frontier: list[str]) -> dict[str, set[str]]:
    """node -> what holds it or depends on it, one batched read per edge type."""
    up: dict[str, set[str]] = {}
    for edge_type in sorted({e for n in frontier for e in UP_EDGES.get(_kind(n), ())}):
        asked = [n for n in frontier if edge_type in UP_EDGES.get(_kind(n), ())]
        for node, edges in store.neighbours(edge_type, asked, Direction.OUT).items():
            up.setdefault(node, set()).update(e.to_id for e in edges)
    for kind, edge_type in sorted(DEPENDENTS.items()):
        asked = [n for n in frontier if _kind(n) == kind]
        if asked:
            for node, edges in store.neighbours(edge_type, asked, Direction.IN).items():
                up.setdefault(node, set()).update(e.from_id for e in edges)
    return up


def sites_of(store: GraphStore, ids: Iterable[str]) -> set[str]:
    """The sites that hold any of ``ids`` at any time (walking up containment edges
    without a window), or whose racks depend on one of them (a CDU, a power shelf, a
    switch)."""
    return set().union(*sites_by_id(store, ids).values())


class SiteStateMaintainer:
    """Recomputes sites' summaries in ``store`` at ``clock()`` and writes them."""

    def __init__(self, store: GraphStore, clock: Callable[[], int] = wall_clock_us) -> None:
        self.store = store
        self.clock = clock
        self.finder = SiteFinder(store)
        self.recomputed = 0  # sites recomputed so far

    def after_write(self, upserts: Sequence[Upsert]) -> None:
        """Recompute the sites a written batch touched."""
        self.refresh(self.finder.touched_sites(upserts))

    def invalidate(self, site_ids: Iterable[str]) -> None:
        """Mark the summaries of ``site_ids`` unknown (:data:`STALE`: placement computes
        those sites itself until they are recomputed; the keys stay in the directory),
        then pending in the site order (:mod:`~fleetgraph.ingest.read_models.site_order`)."""
        asked = sorted(set(site_ids))
        self.store.put_read_models(SITE_STATE, dict.fromkeys(asked, STALE))
        mark_pending(self.store, asked)

    def refresh(self, site_ids: Iterable[str], order: bool = True) -> None:
        """Recompute ``site_ids`` now; rows of ids that are no site node are deleted.
        ``order`` False: the site order is left for the caller to derive."""
        asked = sorted(set(site_ids))
        self.store_rows(asked, self.compute(asked), order)

    def compute(self, site_ids: Sequence[str]) -> dict[str, Computed]:
        """The summaries of ``site_ids`` at ``clock()`` (ids that are no site node: none)."""
        return compute_site_states(self.store, site_ids, self.clock()) if site_ids else {}

    def store_rows(self, site_ids: Sequence[str], computed: dict[str, Computed],
                   order: bool = True) -> None:
        """Write the rows of ``site_ids`` from ``computed`` (a site not in it loses its),
        then derive the site order from every row (unless ``order`` is False)."""
        if not site_ids:
            return
        # free GPUs first: a summary row never points at lists older than itself
        self.store.put_read_models(SITE_FREE_GPUS, {
            s: encode_free(computed[s].free) if s in computed else None for s in site_ids})
        self.store.put_read_models(SITE_STATE, {
            s: computed[s].state.encode() if s in computed else None for s in site_ids})
        self.recomputed += len(site_ids)
        if order:
            refresh_order(self.store)

    def forget_all(self) -> None:
        """Delete every summary and the directory mark (placement then lists the sites
        from the site nodes and computes each itself, until a rebuild); the site order
        first."""
        forget_order(self.store)
        self.store.put_read_models(SITE_STATE, {DIRECTORY_KEY: None})  # first: no longer all
        keys = self.store.get_read_models(SITE_STATE)
        self.store.put_read_models(SITE_STATE, dict.fromkeys(keys))

    def site_ids(self, page: int = 5000) -> list[str]:
        """Every site node's id, in id order."""
        return self.store.node_ids("site", page)

    def complete_directory(self) -> list[str]:
        """Make the ``site_state`` keys the directory of every site if they are not
        marked so: a :data:`STALE` row for each site node without a row, then the mark
        (no recomputation). Returns those sites; one small read when the mark is there."""
        mark = self.store.get_read_models(SITE_STATE, [DIRECTORY_KEY]).get(DIRECTORY_KEY)
        if mark == str(FORMAT):
            return []
        have = self.store.get_read_models(SITE_STATE)
        missing = [s for s in self.site_ids() if s not in have]
        if missing:
            self.invalidate(missing)
        self.store.put_read_models(SITE_STATE, {DIRECTORY_KEY: str(FORMAT)})
        return missing

    def rebuild(self, page: int = 5000) -> int:
        """Recompute every site of the store, delete rows of sites that are gone, then
        mark the rows as the directory of every site and derive the site order from
        them; returns the number of sites."""
        sites = self.site_ids(page)
        for i in range(0, len(sites), REBUILD_CHUNK):
            self.refresh(sites[i : i + REBUILD_CHUNK], order=False)
        gone = set(self.store.get_read_models(SITE_STATE)) - set(sites) - {DIRECTORY_KEY}
        gone |= set(self.store.get_read_models(SITE_FREE_GPUS)) - set(sites)
        if gone:
            self.refresh(gone, order=False)
        self.store.put_read_models(SITE_STATE, {DIRECTORY_KEY: str(FORMAT)})
        refresh_order(self.store)
        return len(sites)


class MaintainingStoreSink(StoreSink):
    """A StoreSink that keeps the read models (site states, replicas) of what it writes.

    - A batch is written, then the summaries of the sites it touched are marked
      unknown (:data:`STALE`: placement computes those sites itself) and the
      replicas rows of the items it touched are deleted (the queries read those
      items from the store), at once: they are pending. So a query never reads a
      row older than the graph.
    - When no recomputation is running and the wait after the last one has passed
      (at least ``every_s``, and ``pace`` times what the last one took), the pending
      sites and items are recomputed together, by ``start``: here, at once, in the
      writing thread (the embedded ingest); the Kafka sink runs them in a thread of
      their own (:class:`~fleetgraph.ingest.kafka.sink_read_models.SinkReadModels`).
      A bulk replay, whose every batch touches most sites, costs one recomputation
      of the fleet per wait, not per batch, and at most a tenth of its time (at 1000
      sites a recomputation of the fleet takes about 10 s here: once a second, it
      was 84 % of the ingest's time). :meth:`catch_up` recomputes what is pending
      (the embedded ingest calls it at the end of a run).
    - A recomputation's rows are written under a lock the sink takes to mark a
      batch's sites and items, and only for those no batch touched since it began:
      a row computed before a write never replaces the mark that write made (that
      site stays pending, for the next one).

    Its first write makes the rows the directory of every site if they are not
    (:meth:`SiteStateMaintainer.complete_directory`: a store written before, or
    without, the read model) and recomputes the sites that had no row.

    A store outage while marking raises StorageUnavailable (the batch is written
    again: writes are idempotent); during a recomputation it leaves the rows
    marked and the sites pending. Any other failure must not refuse good data: it
    is logged and every row deleted, the directory mark too, so placement lists the
    sites from the site nodes and computes each itself (correct, slower) until the
    sink's next write makes the directory again (every site then recomputed once)
    or ``fleetgraph read-models rebuild``."""

    def __init__(self, store: GraphStore, clock: Callable[[], int] = wall_clock_us, *,
                 every_s: float = REFRESH_EVERY_S, pace: float = REFRESH_PACE,
                 monotonic: Callable[[], float] = time.monotonic,
                 timer: Callable[[], float] = time.perf_counter,
                 start: Callable[[Callable[[], None]], None] | None = None) -> None:
        super().__init__(store)
        self.graph = store  # the store, with its reads and read models
        self.maintainer = SiteStateMaintainer(store, clock)
        self.replicas = ReplicaMaintainer(store, clock)
        self.models = ModelSitesMaintainer(store, clock)
        self.residency = ResidencyMaintainer(store, clock)
        self.least_s = every_s
        self.every_s = every_s  # the wait before the next recomputation
        self.pace = pace
        self.monotonic = monotonic
        self.timer = timer
        self.start = start or _at_once
        self.pending: set[str] = set()  # sites marked unknown, to recompute
        self.pending_items: set[str] = set()  # items whose replicas rows were deleted
        self.pending_models: set[str] = set()  # models whose model_sites rows were deleted
        self.pending_datasets: set[str] = set()  # datasets whose residency headers were
        self._touched_datasets: set[str] = set()  # deleted; those marked since it began
        self.recomputations = 0
        self._touched: set[str] = set()  # sites and items marked since the running one began
        self._marks = threading.Lock()  # a batch's marks against a recomputation's rows
        self._idle = threading.Event()  # no recomputation running
        self._idle.set()
        self._last = -math.inf  # the first batch is recomputed at once
        self._listed = False  # the rows are known to be the directory of every site

    def write(self, upserts: Sequence[Upsert]) -> None:
        super().write(upserts)
        try:
            self._mark(upserts)
        except StorageUnavailable:
            raise
        except Exception:
            self._forget_all()
            return
        self._maybe_start()

    def _mark(self, upserts: Sequence[Upsert]) -> None:
        """Mark the sites and items the written batch touched, pending."""
        listed: list[str] = []
        if not self._listed:  # once (and after a failure): sites without rows recomputed
            listed = self.maintainer.complete_directory()
            self._listed = True
        sites = self.maintainer.finder.touched_sites(upserts)
        items = self.replicas.touched(upserts)
        datasets = self.residency.touched(upserts)
        models = self.models.touched(upserts)
        if not sites and not items and not listed and not datasets and not models:
            return
        with self._marks:
            if models:
                self.models.invalidate(models)
                self.pending_models |= models
                self._touched |= models
            if datasets:
                self.residency.invalidate(datasets)
                self.pending_datasets.update(datasets)
                self._touched_datasets |= datasets
            if items:
                self.replicas.invalidate(items)
            if sites:
                self.maintainer.invalidate(sites)
            self.pending |= sites | set(listed)
            self.pending_items |= items
            self._touched |= sites | items

    def _maybe_start(self) -> None:
        if not (self.pending or self.pending_items or self.pending_datasets
                or self.pending_models) or \
                not self._idle.is_set():
            return
        if self.monotonic() - self._last < self.every_s:
            return
        with self._marks:
            sites, self.pending = self.pending, set()
            items, self.pending_items = self.pending_items, set()
            models, self.pending_models = self.pending_models, set()
            datasets, self.pending_datasets = self.pending_datasets, set()
            self._touched = set()
            self._touched_datasets = set()
        self._idle.clear()
        try:
            self.start(lambda: self._recompute(sites, items, datasets, models))
        except BaseException:
            self._put_back(sites, items, datasets, models)
            self._idle.set()
            raise

    def _recompute(self, sites: set[str], items: set[str],
                   datasets: Collection[str] = (), models: Collection[str] = ()) -> None:
        started = self.timer()
        try:
            self._refresh(sites, items, models)
            self._refresh_datasets(datasets, started)
        except StorageUnavailable as exc:
            log.warning("the read models of %d sites and %d items wait for the store: %r",
                        len(sites), len(items), exc)
            self._put_back(sites, items, datasets, models)
        except Exception:
            self._forget_all()
        finally:
            self.every_s = max(self.least_s, self.pace * (self.timer() - started))
            self._last = self.monotonic()
            self.recomputations += 1
            self._idle.set()

    def _refresh(self, sites: set[str], items: set[str], models: Collection[str] = ()
                 ) -> None:
        """Compute the rows (outside the lock), then write those of the sites and items
        no batch touched since this recomputation began (under it)."""
        asked = sorted(sites)
        computed = self.maintainer.compute(asked)
        kept = sorted(items)
        try:
            rows = self.replicas.compute(kept)
        except StorageUnavailable:
            raise
        except Exception:  # the site states are still written; the items' rows stay deleted
            log.exception("the replicas read model of %d items could not be recomputed; "
                          "their rows stay deleted (run `fleetgraph read-models rebuild`)",
                          len(kept))
            rows = {}
        ranked = sorted(models)
        try:  # after the items: their fresh rows are the models' too
            ranking = self.models.compute(ranked, rows)
        except StorageUnavailable:
            raise
        except Exception:  # their rows stay deleted: modelHotness reads those models whole
            log.exception("the model_sites read model of %d models could not be recomputed",
                          len(ranked))
            ranked, ranking = [], {}
        with self._marks:
            self.maintainer.store_rows([s for s in asked if s not in self._touched], computed)
            self.replicas.store_rows([i for i in rows if i not in self._touched], rows)
            self.models.store_rows([m for m in ranked if m not in self._touched], ranking)

    def _refresh_datasets(self, datasets: Collection[str], started: float) -> None:
        """Recompute the datasets' residency rows, one after another until
        RESIDENCY_BUDGET_S have passed since ``started`` (the others stay pending), and
        write those no batch touched since this recomputation began. A failure other
        than an outage leaves their headers deleted (the query walks)."""
        asked = sorted(datasets)
        try:
            rows = self.residency.compute(
                asked, lambda: self.timer() - started > RESIDENCY_BUDGET_S)
        except StorageUnavailable:
            raise
        except Exception:
            log.exception("the residency read model of %d datasets could not be "
                          "recomputed; their headers stay deleted", len(asked))
            return
        with self._marks:
            self.pending_datasets |= {d for d in asked if d not in rows}
            self.residency.store_rows(
                [d for d in asked if d in rows and d not in self._touched_datasets], rows)

    def _put_back(self, sites: set[str], items: set[str],
                  datasets: Collection[str] = (), models: Collection[str] = ()) -> None:
        with self._marks:
            self.pending |= sites
            self.pending_items |= items
            self.pending_models.update(models)
            self.pending_datasets.update(datasets)

    def _forget_all(self) -> None:
        log.exception("the site-state read model could not be kept up to date; its rows "
                      "are deleted (run `fleetgraph read-models rebuild`)")
        with self._marks:
            self.pending.clear()
            self._listed = False
            try:
                self.maintainer.forget_all()
            except Exception:
                log.exception("deleting the site-state rows failed")
            try:
                self.residency.forget_all()
            except Exception:
                log.exception("deleting the residency headers failed")
            try:  # a batch whose marks failed may have touched any item or model
                self.replicas.invalidate(self.graph.get_read_models(REPLICAS))
                self.models.forget_all()
            except Exception:
                log.exception("deleting the replicas and model_sites rows failed")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until no recomputation is running; False after ``timeout_s``."""
        return self._idle.wait(timeout_s)

    def catch_up(self) -> None:
        """Recompute what is pending now, and wait for it (a run's end, tests): again
        while datasets' residency rows are left pending by RESIDENCY_BUDGET_S and the
        last recomputation reached some."""
        left: int | None = None
        while left is None or (self.pending_datasets and len(self.pending_datasets) < left):
            left = len(self.pending_datasets)
            self.wait()
            self._last = -math.inf
            self._maybe_start()
            self.wait()


def _at_once(work: Callable[[], None]) -> None:
    work()


def store_sink(store: GraphWriter) -> StoreSink:
    """The sink of a pipeline writing to ``store``: one that keeps the site-state read
    model when ``store`` is a whole GraphStore (the CLI's and the workers'), else a
    plain StoreSink."""
    if isinstance(store, GraphStore):
        return MaintainingStoreSink(store)
    return StoreSink(store)


def rebuild_read_models(store: GraphStore, clock: Callable[[], int]) -> None:
    """Every read model the pipeline keeps, recomputed from ``store``'s graph at
    ``clock()``: the site states, the replicas, the datasets' residency (what
    ``fleetgraph read-models rebuild``,
    the bulk copy and the benches' read-model step do)."""
    SiteStateMaintainer(store, clock).rebuild()
    ReplicaMaintainer(store, clock).rebuild()
    ModelSitesMaintainer(store, clock).rebuild()
    ResidencyMaintainer(store, clock).rebuild()
