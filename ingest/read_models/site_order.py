"""Site order: every site's summary in one row, ordered by a bound of the placement score
the summary gives, so that ``placement`` at now with ``candidates(first: N)`` reads one
row and scores about N sites, not the 1000 ``site_state`` rows.

Placement's score is ``0.35 gpu + 0.15 health + 0.25 model + 0.15 data + 0.10 energy +
0.05 region`` (:mod:`fleetgraph.serving.queries.placement`). A site's summary gives the
``health`` and ``energy`` parts, and its free GPU count the ``gpu`` part of any job; so
``0.35 + 0.15 health + 0.10 energy`` bounds the summary's share of the score whatever
the request. The row lists the sites by that bound (high first, then id); decoded once
per text, it also lists them by free GPUs and by region, and by the instant their
summary stops holding. The query walks these orders and the model's (``model_sites``)
together, scores the sites it meets exactly, and stops when no site it has not met can
rank among the first N (:mod:`fleetgraph.serving.queries.placement_order`).

The rows of read model :data:`SITE_ORDER`
-----------------------------------------
* :data:`INDEX_KEY`: the order, derived from every ``site_state`` row at once (so it
  holds what the rows held when it was read: a site whose row was :data:`~fleetgraph.
  ingest.read_models.site_state.STALE` or unreadable is listed as *unknown*, which the
  query computes itself); written only while the rows are the directory of every
  site (the ``site_state`` mark), deleted otherwise.
* one key per site whose summary changed since the order was derived (value
  :data:`PENDING`): the sink marks a site pending after marking its row stale, and a
  derivation deletes the marks it read before reading the rows. The query computes
  the pending sites itself, as it does the unknown ones and those whose summary no
  longer holds.

The maintainer that writes the site states derives the order after each
recomputation's rows and at the end of a rebuild
(:class:`~fleetgraph.ingest.read_models.maintain.SiteStateMaintainer`): a read of
every row and an 82 kB write at 1000 sites (4.5 CPU ms embedded), at most once a
second per sink. The pending marks are deleted rows: on Cassandra a partition of at
most one tombstone per site (the same keys again and again). Two sink
workers racing can write an order derived from rows older than the other's (the
other's pending marks already deleted): that order stands until the next derivation,
the next recomputation of either worker (as the ``site_state`` rows themselves, see
docs/queries.md, "placement").
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from dataclasses import dataclass

from fleetgraph.ingest.read_models.site_state import (
    DIRECTORY_KEY,
    SITE_STATE,
    SiteState,
)
from fleetgraph.ingest.read_models.site_state import FORMAT as ROWS_FORMAT
from fleetgraph.storage.base import GraphStore

SITE_ORDER = "site_order"  # read model: INDEX_KEY -> the order; site id -> PENDING
INDEX_KEY = "~order"  # sorts apart from site ids ("site:...")
PENDING = "pending"
FORMAT = 1
HEALTH_WEIGHT = 0.15  # placement's weights of the parts a summary gives
ENERGY_WEIGHT = 0.10


def rest_part(state: SiteState) -> float:
    """``0.15 health + 0.10 energy`` of a summary with its properties (the share of the
    score the summary gives besides the GPU part)."""
    assert state.props is not None
    health = state.healthy_racks / state.racks if state.racks else 0.0
    return HEALTH_WEIGHT * health + ENERGY_WEIGHT * state.props.energy


def _known(site_id: str, text: str) -> SiteState | None:
    state = SiteState.decode(site_id, text)
    return state if state is not None and state.props is not None else None


def derive_order(rows: Mapping[str, str]) -> str | None:
    """The order's text from every ``site_state`` row (its directory mark included), or
    None when the rows are not marked as the directory of every site."""
    if rows.get(DIRECTORY_KEY) != str(ROWS_FORMAT):
        return None
    known: list[tuple[float, str, str]] = []
    unknown: list[str] = []
    for site_id, text in rows.items():
        if site_id == DIRECTORY_KEY:
            continue
        state = _known(site_id, text)
        if state is None:
            unknown.append(site_id)
        else:
            known.append((-rest_part(state), site_id, text))
    known.sort()
    return json.dumps([FORMAT, [[s, t] for _, s, t in known], sorted(unknown)],
                      separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class SiteOrder:
    """The order decoded, with the orders the query walks (built once per text)."""

    states: dict[str, SiteState]  # the sites with a known summary, by id
    unknown: frozenset[str]  # listed without a known summary
    by_rest: tuple[str, ...]  # known sites by rest_part high first, then id
    by_free: tuple[str, ...]  # known sites by free GPUs high first, then id
    by_region: dict[str, tuple[str, ...]]  # region (text) -> its sites, by rest_part
    jurisdictions: dict[str, int]  # jurisdiction (text) -> known sites that have it
    untils: tuple[tuple[int, str], ...]  # (valid_until, site), sorted; None left out
    latest_computed_us: int  # the latest computed_at (0 without sites)

    @classmethod
    def decode(cls, text: str) -> SiteOrder | None:
        """None for a text of another format or that does not parse."""
        try:
            version, entries, unknown = json.loads(text)
            if version != FORMAT:
                return None
            states: dict[str, SiteState] = {}
            for site_id, row in entries:
                state = _known(str(site_id), str(row))
                if state is None:
                    return None
                states[state.site_id] = state
            missing = frozenset(str(s) for s in unknown)
        except (ValueError, TypeError):
            return None
        by_rest = tuple(sorted(states, key=lambda s: (-rest_part(states[s]), s)))
        by_region: dict[str, list[str]] = {}
        jurisdictions: dict[str, int] = {}
        for site_id in by_rest:
            props = states[site_id].props
            assert props is not None
            if isinstance(props.region, str):
                by_region.setdefault(props.region, []).append(site_id)
            if isinstance(props.jurisdiction, str):
                jurisdictions[props.jurisdiction] = jurisdictions.get(props.jurisdiction, 0) + 1
        return cls(
            states, missing, by_rest,
            tuple(sorted(states, key=lambda s: (-states[s].free_gpus, s))),
            {r: tuple(sites) for r, sites in by_region.items()}, jurisdictions,
            tuple(sorted((s.valid_until_us, s.site_id) for s in states.values()
                         if s.valid_until_us is not None)),
            max((s.computed_at_us for s in states.values()), default=0))

    def expired(self, now_us: int) -> list[str]:
        """The known sites whose summary no longer holds at ``now_us`` (a valid_until at
        or before it)."""
        end = bisect.bisect_right(self.untils, (now_us, "\U0010ffff"))
        return [site_id for _, site_id in self.untils[:end]]


_last: tuple[str, SiteOrder | None] | None = None  # replaced whole (a read in another thread)


def _decoded(text: str) -> SiteOrder | None:
    """The order of ``text``, decoded once while it stays the same (compared, not hashed:
    the row is ~80 characters a site)."""
    global _last
    last = _last
    if last is not None and last[0] == text:
        return last[1]
    decoded = SiteOrder.decode(text)
    _last = (text, decoded)
    return decoded


def read_order(store: GraphStore) -> tuple[SiteOrder | None, set[str]]:
    """The order (None when there is none, or of another format) and the pending sites:
    one read of the read model."""
    rows = store.get_read_models(SITE_ORDER)
    text = rows.pop(INDEX_KEY, None)
    return (None if text is None else _decoded(text)), set(rows)


def mark_pending(store: GraphStore, site_ids: list[str]) -> None:
    """Mark ``site_ids`` pending (after their ``site_state`` rows were marked stale: an
    order derived after a pending mark was read sees the stale row)."""
    if site_ids:
        store.put_read_models(SITE_ORDER, dict.fromkeys(site_ids, PENDING))


def refresh_order(store: GraphStore) -> bool:
    """Derive the order from the ``site_state`` rows and write it, then delete the
    pending marks read before the rows (a site marked later stays pending). Returns
    whether an order was written (else it is deleted: the rows are not the directory)."""
    pending = [k for k in store.get_read_models(SITE_ORDER) if k != INDEX_KEY]
    text = derive_order(store.get_read_models(SITE_STATE))
    store.put_read_models(SITE_ORDER, {INDEX_KEY: text})
    if pending and text is not None:
        store.put_read_models(SITE_ORDER, dict.fromkeys(pending))
    return text is not None


def forget_order(store: GraphStore) -> None:
    """Delete the order, then every pending mark (the query then reads every row)."""
    store.put_read_models(SITE_ORDER, {INDEX_KEY: None})
    store.put_read_models(SITE_ORDER, dict.fromkeys(store.get_read_models(SITE_ORDER)))
