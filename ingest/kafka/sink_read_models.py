"""The sink's read models, recomputed beside its writes, not between them.

The sink (:mod:`fleetgraph.ingest.kafka.store_writer`) keeps the site-state and
replicas read models of what it writes (:mod:`fleetgraph.ingest.read_models.maintain`
says what a batch touches). A recomputation reads each touched site's topology back
from the store: on Cassandra, under load, eight sites took 1-5 s. Made between two
batches it held every graph record that arrived meanwhile, a new node included, for
as long (the freshness bench's slowest probes). :class:`SinkReadModels` runs it in a
thread of its own and the sink writes on:

- a batch is written, then the summaries of the sites it touched are marked unknown
  (:data:`~fleetgraph.ingest.read_models.site_state.STALE`: placement computes
  those sites itself) and the replicas rows of the items it touched are deleted
  (the queries read those items from the store), at once, as before; they are
  pending;
- when no recomputation is running and the wait after the last one has passed
  (at least ``every_s``, and ``pace`` times what the last one took), the pending
  sites and items are recomputed in the thread;
- its rows are written under a lock the sink takes to mark a batch's sites and
  items, and only for those that no batch touched since it began: a row computed
  before a write never replaces the mark that write made (that site stays
  pending, for the next one).

So a query never reads a summary older than the graph by more than the sink's own
gap between a write and its mark (as before), and the sink's batches never wait
for a recomputation. A failure other than an outage is logged and every row is
deleted, the directory mark too (as :class:`MaintainingStoreSink` does);
an outage leaves the rows marked and the sites pending.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.records import Upsert
from fleetgraph.ingest.read_models import replicas
from fleetgraph.ingest.read_models.maintain import REFRESH_PACE, SiteStateMaintainer
from fleetgraph.ingest.read_models.replicas import ReplicaMaintainer, compute_replicas
from fleetgraph.ingest.read_models.site_state import (
    SITE_FREE_GPUS,
    SITE_STATE,
    compute_site_states,
    encode_free,
)
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.storage.base import GraphStore, StorageUnavailable

log = logging.getLogger(__name__)
READ_MODEL_EVERY_S = 5.0  # the sink recomputes the sites it touched at most this often
READ_MODEL_PACE = REFRESH_PACE  # and waits this many times its last recomputation


class SinkReadModels(StoreSink):
    """A StoreSink that keeps the read models of what it writes, recomputing them in a
    thread of its own (``start``: how it runs one, a new thread by default)."""

    def __init__(self, store: GraphStore, clock: Callable[[], int] = wall_clock_us, *,
                 every_s: float = READ_MODEL_EVERY_S, pace: float = READ_MODEL_PACE,
                 monotonic: Callable[[], float] = time.monotonic,
                 timer: Callable[[], float] = time.perf_counter,
                 start: Callable[[Callable[[], None]], None] | None = None) -> None:
        super().__init__(store)
        self.graph = store  # the store, with its reads and read models
        self.maintainer = SiteStateMaintainer(store, clock)
        self.replicas = ReplicaMaintainer(store, clock)
        self.clock = clock
        self.least_s = every_s
        self.every_s = every_s  # the wait before the next recomputation
        self.pace = pace
        self.monotonic = monotonic
        self.timer = timer
        self.start = start or _in_a_thread
        self.pending: set[str] = set()  # sites marked unknown, to recompute
        self.pending_items: set[str] = set()  # items whose replicas rows were deleted
        self.recomputations = 0
        self._touched: set[str] = set()  # sites and items marked since the running one began
        self._marks = threading.Lock()  # a batch's marks against a recomputation's rows
        self._idle = threading.Event()  # no recomputation running
        self._idle.set()
        self._last = -math.inf  # when the last recomputation ended
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
        if not sites and not items and not listed:
            return
        with self._marks:
            if items:
                self.replicas.invalidate(items)
            if sites:
                self.maintainer.invalidate(sites)
            self.pending |= sites | set(listed)
            self.pending_items |= items
            self._touched |= sites | items

    def _maybe_start(self) -> None:
        if not (self.pending or self.pending_items) or not self._idle.is_set():
            return
        if self.monotonic() - self._last < self.every_s:
            return
        with self._marks:
            sites, self.pending = self.pending, set()
            items, self.pending_items = self.pending_items, set()
            self._touched = set()
        self._idle.clear()
        try:
            self.start(lambda: self._recompute(sites, items))
        except BaseException:
            self._put_back(sites, items)
            self._idle.set()
            raise

    def _recompute(self, sites: set[str], items: set[str]) -> None:
        started = self.timer()
        try:
            self._refresh(sites, items)
        except StorageUnavailable as exc:
            log.warning("the read models of %d sites and %d items wait for the store: %r",
                        len(sites), len(items), exc)
            self._put_back(sites, items)
        except Exception:
            self._forget_all()
        finally:
            self.every_s = max(self.least_s, self.pace * (self.timer() - started))
            self._last = self.monotonic()
            self.recomputations += 1
            self._idle.set()

    def _refresh(self, sites: set[str], items: set[str]) -> None:
        """Compute the rows (outside the lock), then write those of the sites and items
        no batch touched since this recomputation began (under it)."""
        asked = sorted(sites)
        computed = compute_site_states(self.graph, asked, self.clock()) if asked else {}
        kept = sorted(items) if replicas.KEPT else []
        try:
            rows = compute_replicas(self.graph, kept, self.clock()) if kept else {}
        except StorageUnavailable:
            raise
        except Exception:  # the site states are still written; the items' rows stay deleted
            log.exception("the replicas read model of %d items could not be recomputed; "
                          "their rows stay deleted (run `fleetgraph read-models rebuild`)",
                          len(kept))
            rows, kept = {}, []
        with self._marks:
            fresh = [s for s in asked if s not in self._touched]
            if fresh:  # free GPUs first: a summary row never points at lists older than itself
                self.graph.put_read_models(SITE_FREE_GPUS, {
                    s: encode_free(computed[s].free) if s in computed else None for s in fresh})
                self.graph.put_read_models(SITE_STATE, {
                    s: computed[s].state.encode() if s in computed else None for s in fresh})
                self.maintainer.recomputed += len(fresh)
            fresh_items = [i for i in kept if i not in self._touched]
            if fresh_items:
                self.graph.put_read_models(replicas.REPLICAS,
                                           {i: rows[i].encode() for i in fresh_items})
                self.replicas.recomputed += len(fresh_items)

    def _put_back(self, sites: set[str], items: set[str]) -> None:
        with self._marks:
            self.pending |= sites
            self.pending_items |= items

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

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until no recomputation is running; False after ``timeout_s``."""
        return self._idle.wait(timeout_s)

    def catch_up(self) -> None:
        """Recompute what is pending now, and wait for it (tests, a sink that stops)."""
        self.wait()
        self._last = -math.inf
        self._maybe_start()
        self.wait()


def _in_a_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="fleetgraph-read-models", daemon=True).start()
