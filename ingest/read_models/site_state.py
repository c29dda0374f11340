"""Site state: the read model placement needs for ``at`` = now, per site.

For each site, computed "as of" an instant with the same code as the queries
(:func:`fleetgraph.ingest.read_models.fleet_state.fleet_state`, the definition of
docs/queries.md "placement"): its racks (``rack:`` ids ``in_site`` it), how many
are healthy, and its free GPUs by server (on healthy racks, server and GPU not
down, no ``allocated`` edge valid then). Two read models hold them (rows keyed
by site id): ``site_state`` (small: the counts and when they hold) and
``site_free_gpus`` (the GPU ids by server, read only for the candidates a
placement answers with).

When a summary holds
--------------------
A summary computed at ``t`` holds from ``t`` until the earliest interval boundary
after ``t`` among the edges the computation met (a ``valid_from`` or
``valid_to`` later than ``t``: an allocation or a fault that ends, a rack that
arrives); ``valid_until_us`` is ``None`` when there is none. To see edges that
start later, the computation reads each adjacency list from ``t`` on (not only
at ``t``) and keeps what is valid at ``t``. Anything else that changes the state
is a write, after which the pipeline recomputes the sites the write touched
(:mod:`fleetgraph.ingest.read_models.maintain`); a write of the site node itself
is one, so the site properties placement ranks by, kept in the row as read with
the topology (``jurisdiction`` and ``region`` as stored, the energy part computed
from ``power_headroom_kw``, ``battery_soc`` and ``solar_kw``), are as fresh as
its counts.

The site directory
------------------
The keys of ``site_state`` list the sites, so that placement reads no site node:
a row whose summary is not known (a sink that deletes its summary until it
recomputes it writes :data:`STALE`) keeps its key. The row :data:`DIRECTORY_KEY`
says the keys are every site node of the store: a rebuild writes it after every
row, and a sink that fails to keep the model deletes every row, this one too.
Without it (a store never rebuilt, or of an older layout) placement lists the
sites from the site nodes, as the rows of layout 2 (counts, no properties) need.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from fleetgraph.graph_model.intervals import valid_at
from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.ingest.read_models.fleet_state import FleetState, fleet_state
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow
from fleetgraph.storage.delegating import DelegatingStore

SITE_STATE = "site_state"  # read model: site id -> SiteState
SITE_FREE_GPUS = "site_free_gpus"  # read model: site id -> free GPUs by server
FORMAT = 3  # the rows' layout; a row of another layout reads as missing (2: see decode)
DIRECTORY_KEY = "~every-site"  # site_state row: its keys are every site node (value FORMAT)
STALE = f"{FORMAT},stale"  # site_state row of a site whose summary is not known

FreeByServer = dict[str, tuple[str, ...]]  # server id -> its free GPU ids, sorted


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _number(props: Mapping[str, object], name: str) -> float:
    value = props.get(name)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return 0.0


def energy_part(props: Mapping[str, object]) -> float:
    """placement's energy: the mean of clamp(headroom/1000), battery_soc and
    clamp(solar/500), a missing (or not finite) value counting 0."""
    return (
        _clamp(_number(props, "power_headroom_kw") / 1000)
        + _number(props, "battery_soc")
        + _clamp(_number(props, "solar_kw") / 500)
    ) / 3


@dataclass(frozen=True, slots=True)
class SiteProps:
    """What placement ranks a site by besides its topology, from the site node."""

    jurisdiction: object  # as stored; None when missing
    region: object
    energy: float  # energy_part of the node's properties

    @classmethod
    def of(cls, props: Mapping[str, object]) -> SiteProps:
        return cls(props.get("jurisdiction"), props.get("region"), energy_part(props))


@lru_cache(maxsize=1024)
def _labels(text: str) -> tuple[object, object]:
    """jurisdiction and region from a row's JSON tail (few distinct ones: cached)."""
    jurisdiction, region = json.loads(text)
    return jurisdiction, region


@dataclass(frozen=True, slots=True)
class SiteState:
    """What placement needs of one site at ``at`` = now: its topology's counts and
    (rows of layout 3 on) its properties."""

    site_id: str
    computed_at_us: int
    valid_until_us: int | None  # the first instant it may no longer hold; None: none known
    racks: int
    healthy_racks: int
    free_gpus: int
    props: SiteProps | None = None  # None: a row of layout 2 (read the site node)

    def holds_at(self, now_us: int) -> bool:
        """True when the summary is the state at ``now_us``."""
        return self.computed_at_us <= now_us and (
            self.valid_until_us is None or now_us < self.valid_until_us
        )

    def encode(self) -> str:
        """``format,computed_at,valid_until,racks,healthy,free,energy,[jurisdiction,region]``
        (valid_until empty: None; energy as ``repr`` gives it, read back exactly; the two
        labels as JSON); read back a thousand at a time by placement."""
        if self.props is None:
            raise ValueError(f"the summary of {self.site_id} has no site properties to store")
        until = "" if self.valid_until_us is None else str(self.valid_until_us)
        labels = json.dumps([self.props.jurisdiction, self.props.region], separators=(",", ":"))
        return (f"{FORMAT},{self.computed_at_us},{until},{self.racks},{self.healthy_racks},"
                f"{self.free_gpus},{self.props.energy!r},{labels}")

    @classmethod
    def decode(cls, site_id: str, text: str) -> SiteState | None:
        """The summary of a row; None for a row it cannot read (then recomputed), and
        for :data:`STALE`. A row of layout 2 (without the site's properties) reads with
        ``props`` None."""
        try:
            fields = text.split(",", 7)
            if fields[0] == "3" and len(fields) == 8:
                until = fields[2]
                return cls(site_id, int(fields[1]), int(until) if until else None,
                           int(fields[3]), int(fields[4]), int(fields[5]),
                           SiteProps(*_labels(fields[7]), float(fields[6])))
            if fields[0] == "2" and len(fields) == 6:
                until = fields[2]
                return cls(site_id, int(fields[1]), int(until) if until else None,
                           int(fields[3]), int(fields[4]), int(fields[5]))
            return None
        except (ValueError, TypeError):  # TypeError: a JSON tail that is no pair
            return None


def encode_free(free: FreeByServer) -> str:
    return json.dumps({s: list(g) for s, g in sorted(free.items())}, separators=(",", ":"))


def decode_free(text: str) -> FreeByServer | None:
    try:
        found = json.loads(text)
        return {str(s): tuple(map(str, gpus)) for s, gpus in found.items()}
    except (ValueError, TypeError, AttributeError):
        return None


@dataclass(frozen=True, slots=True)
class Computed:
    """A site's summary and its free GPUs by server, computed together."""

    state: SiteState
    free: FreeByServer


class _Horizon(DelegatingStore):
    """Reads adjacency from ``at`` on (the callers keep what is valid at ``at``) and
    notes, per id asked for, the earliest interval boundary after ``at`` it met."""

    def __init__(self, inner: GraphStore, at_us: int) -> None:
        super().__init__(inner)
        self.at_us = at_us
        self.next_change: dict[str, int] = {}

    def neighbours(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        window: TimeWindow | None = None,
    ) -> dict[str, list[EdgeRecord]]:
        if window is not None:
            window = TimeWindow(self.at_us, None)
        found = self.inner.neighbours(edge_type, ids, direction, window)
        for node_id, edges in found.items():
            for edge in edges:
                for bound in (edge.props.get(VALID_FROM), edge.props.get(VALID_TO)):
                    if isinstance(bound, int) and bound > self.at_us:
                        self.next_change[node_id] = min(
                            bound, self.next_change.get(node_id, bound))
        return found


def _valid(edge: EdgeRecord, at_us: int) -> bool:
    return valid_at((edge.props.get(VALID_FROM), edge.props.get(VALID_TO)), at_us)


def compute_site_states(
    store: GraphStore, site_ids: Iterable[str], at_us: int
) -> dict[str, Computed]:
    """The summaries of the sites among ``site_ids`` that are site nodes in the store, at
    ``at_us``: one ``fleet_state`` of them all (a fixed number of batched reads), one
    ``allocated`` read, one ``get_nodes`` (the site properties too)."""
    asked = sorted(set(site_ids))
    if not asked:
        return {}
    nodes = store.get_nodes(asked)
    present = sorted(nodes)
    if not present:
        return {}
    horizon = _Horizon(store, at_us)
    state = fleet_state(horizon, present, at_us)
    maybe = {site: candidate_gpus(state, site) for site in present}
    gpus = sorted({g for servers in maybe.values() for gs in servers.values() for g in gs})
    taken: set[str] = set()
    if gpus:
        allocated = horizon.neighbours("allocated", gpus, Direction.IN, TimeWindow.at(at_us))
        taken = {gpu for gpu, edges in allocated.items()
                 if any(_valid(e, at_us) for e in edges)}
    computed: dict[str, Computed] = {}
    for site in present:
        racks = state.contents(site, "rack")
        free: FreeByServer = {}
        for server, server_gpus in maybe[site].items():
            left = tuple(sorted(set(server_gpus) - taken))
            if left:
                free[server] = left
        until = min((horizon.next_change[n] for n in _owned(state, site)
                     if n in horizon.next_change), default=None)
        summary = SiteState(site, at_us, until, len(racks),
                            sum(1 for r in racks if state.is_healthy(r)),
                            len({g for gs in free.values() for g in gs}),
                            SiteProps.of(nodes[site].props))
        computed[site] = Computed(summary, free)
    return computed


def candidate_gpus(state: FleetState, site_id: str) -> dict[str, list[str]]:
    """server -> GPUs of the site that are free unless allocated: on a healthy rack, the
    server and the GPU not down."""
    found: dict[str, list[str]] = {}
    for rack in state.contents(site_id, "rack"):
        if not state.is_healthy(rack):
            continue
        for server in state.contents(rack, "server"):
            if server in state.down:
                continue
            for gpu in state.contents(server, "gpu"):
                if gpu not in state.down:
                    found.setdefault(server, []).append(gpu)
    return found


def _owned(state: FleetState, site_id: str) -> set[str]:
    """The ids whose adjacency the site's state was read from: the site, what it holds
    (transitively) and what its racks depend on (CDUs, power shelves, switches)."""
    graph = state.topology.graph
    owned = {site_id}
    stack = [site_id]
    while stack:
        node = stack.pop()
        for held in graph.contents(node):
            if held not in owned:
                owned.add(held)
                stack.append(held)
    for node in [n for n in owned if n.startswith("rack:")]:
        owned.update(graph.dependencies.get(node, {}))
    return owned
