"""Keeping the site-state read model up to date as the pipeline writes.

After a batch is written, the sites it touched are found and recomputed, all in
one batched computation (:func:`~fleetgraph.ingest.read_models.site_state.
compute_site_states`, the queries' own definition restricted to those sites), and
their rows written in one call per read model. A site is touched by

* a write of its node (it may be new), an ``in_site`` or ``attached_to`` edge into it;
* an edge whose near end lies in it, found by walking up the containment edges over
  all time (``in_server``, ``in_rack``, ``in_site``): ``in_rack`` and ``in_server``
  (their container), ``cooled_by`` and ``powered_by`` (the rack), ``allocated`` (the
  GPU), ``had_fault`` (the component; for a CDU or power shelf also the racks it
  cools or feeds, for a switch the racks it is in).

Other writes (jobs, models, data, telemetry of site properties) leave the summaries
as they are: placement reads the site nodes themselves. Summaries are computed at
the writer's clock (now) and hold until the first interval boundary after it that
they met (``site_state``); ``fleetgraph read-models rebuild`` recomputes every site.

Several writers at once (Kafka sink workers) may race: one computes a site before
another's write lands and stores its row after the other's. Placement cannot tell;
the next write to the site or a rebuild mends it (see docs/queries.md, "placement").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model.fleet import UP_EDGES
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Upsert
from fleetgraph.ingest.read_models.site_state import (
    SITE_FREE_GPUS,
    SITE_STATE,
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


def _kind(node_id: str) -> str:
    return node_id.partition(":")[0]


def touched_sites(store: GraphStore, upserts: Iterable[Upsert]) -> set[str]:
    """The sites whose summary a batch of upserts may change."""
    sites: set[str] = set()
    near: set[str] = set()
    for upsert in upserts:
        if isinstance(upsert, NodeUpsert):
            if upsert.type == "site":
                sites.add(upsert.id)
        elif isinstance(upsert, EdgeUpsert) and upsert.type in NEAR_END:
            near.add(upsert.to_id if NEAR_END[upsert.type] == "to" else upsert.from_id)
    return sites | sites_of(store, near)


def sites_of(store: GraphStore, ids: Iterable[str]) -> set[str]:
    """The sites that hold any of ``ids`` at any time (walking up containment edges
    without a window, one batched read per level and edge type), or whose racks
    depend on one of them."""
    sites = {i for i in ids if _kind(i) == "site"}
    frontier = sorted({i for i in ids if _kind(i) != "site"})
    seen = set(frontier)
    while frontier:
        above: set[str] = set()
        for edge_type in sorted({e for n in frontier for e in UP_EDGES.get(_kind(n), ())}):
            asked = [n for n in frontier if edge_type in UP_EDGES.get(_kind(n), ())]
            found = store.neighbours(edge_type, asked, Direction.OUT)
            above.update(e.to_id for edges in found.values() for e in edges)
        for kind, edge_type in sorted(DEPENDENTS.items()):
            asked = [n for n in frontier if _kind(n) == kind]
            if asked:
                found = store.neighbours(edge_type, asked, Direction.IN)
                above.update(e.from_id for edges in found.values() for e in edges)
        sites |= {n for n in above if _kind(n) == "site"}
        frontier = sorted(n for n in above - seen if _kind(n) != "site")
        seen |= above
    return sites


class SiteStateMaintainer:
    """Recomputes sites' summaries in ``store`` at ``clock()`` and writes them."""

    def __init__(self, store: GraphStore, clock: Callable[[], int] = wall_clock_us) -> None:
        self.store = store
        self.clock = clock
        self.recomputed = 0  # sites recomputed so far

    def after_write(self, upserts: Sequence[Upsert]) -> None:
        """Recompute the sites a written batch touched."""
        self.refresh(touched_sites(self.store, upserts))

    def refresh(self, site_ids: Iterable[str]) -> None:
        """Recompute ``site_ids`` now; rows of ids that are no site node are deleted."""
        asked = sorted(set(site_ids))
        if not asked:
            return
        computed = compute_site_states(self.store, asked, self.clock())
        # free GPUs first: a summary row never points at lists older than itself
        self.store.put_read_models(SITE_FREE_GPUS, {
            s: encode_free(computed[s].free) if s in computed else None for s in asked})
        self.store.put_read_models(SITE_STATE, {
            s: computed[s].state.encode() if s in computed else None for s in asked})
        self.recomputed += len(asked)

    def forget_all(self) -> None:
        """Delete every summary (placement then computes every site itself)."""
        keys = self.store.get_read_models(SITE_STATE)
        self.store.put_read_models(SITE_STATE, dict.fromkeys(keys))

    def rebuild(self, page: int = 5000) -> int:
        """Recompute every site of the store and delete rows of sites that are gone;
        returns the number of sites."""
        sites: list[str] = []
        after: str | None = None
        while True:
            found = self.store.scan_nodes("site", after, page)
            sites += [r.id for r in found.records]
            if found.next_after is None:
                break
            after = found.next_after
        for i in range(0, len(sites), REBUILD_CHUNK):
            self.refresh(sites[i : i + REBUILD_CHUNK])
        gone = set(self.store.get_read_models(SITE_STATE)) - set(sites)
        gone |= set(self.store.get_read_models(SITE_FREE_GPUS)) - set(sites)
        if gone:
            self.refresh(gone)
        return len(sites)


class MaintainingStoreSink(StoreSink):
    """A StoreSink that, after writing a batch, recomputes the sites it touched.

    A store outage while recomputing raises StorageUnavailable (the batch is written
    again: writes are idempotent). Any other failure must not refuse good data: it is
    logged and every summary deleted, so placement computes the sites itself (correct,
    slower) until ``fleetgraph read-models rebuild``."""

    def __init__(self, store: GraphStore, clock: Callable[[], int] = wall_clock_us) -> None:
        super().__init__(store)
        self.maintainer = SiteStateMaintainer(store, clock)

    def write(self, upserts: Sequence[Upsert]) -> None:
        super().write(upserts)
        try:
            self.maintainer.after_write(upserts)
        except StorageUnavailable:
            raise
        except Exception:
            log.exception("the site-state read model could not be kept up to date; its "
                          "rows are deleted (run `fleetgraph read-models rebuild`)")
            self.maintainer.forget_all()


def store_sink(store: GraphWriter) -> StoreSink:
    """The sink of a pipeline writing to ``store``: one that keeps the site-state read
    model when ``store`` is a whole GraphStore (the CLI's and the workers'), else a
    plain StoreSink."""
    if isinstance(store, GraphStore):
        return MaintainingStoreSink(store)
    return StoreSink(store)
