"""Stage 6: collapse updates to the same node or edge within a window.

Updates to one node or edge are merged, property by property, the newest event
time winning, exactly as a store would merge them; so what dedup emits stores
to the same graph as the updates it took in, with fewer writes. A key's window
opens with its first update and lasts ``window_us`` on the clock (event time in
the embedded runner, wall time in a Faust worker). Two modes (the ingest
setting ``dedup_mode``):

- ``leading`` (the default): the update that opens a key's window is emitted at
  once (the leading edge); the updates of that key that follow within the
  window are merged and emitted once when the window ends (the trailing edge,
  only if there were any). A key updated once per window is written once, as
  in ``trailing``; one updated k > 1 times is written twice instead of once.
  Freshness is no longer the window: a new node or edge, or a change after a
  quiet spell, is written with the next batch.
- ``trailing``: everything waits for the window's end, merged into one upsert.

Emitting the first update early and the merged rest later stores the same
graph as emitting all of them merged: the store's merge is the same
per-property newest-wins (a join, so the order and grouping of writes do not
matter). The buffer also emits an entry, whatever its window, when it holds
more than ``max_entries``.

:class:`Dedup` is what the pipeline needs of its dedup stage; :class:`DedupBuffer`
is the in-memory one, which hands back what is due as it takes updates in. A
Faust worker's (``fleetgraph.ingest.kafka.dedup``) keeps its entries in a table
and hands back nothing there: a timer takes what is due.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, Literal, Protocol

from fleetgraph.graph_model.records import Provenance, Upsert

DedupMode = Literal["leading", "trailing"]
DEDUP_MODES: tuple[DedupMode, ...] = ("leading", "trailing")


# A key's entry: [when its window opened, the updates not yet emitted merged into one
# (None: none since the leading edge)]; a list, made once per key, cheaper than an object
_Entry = list[Any]
FIRST_SEEN, MERGED = 0, 1


def _latest(a: Provenance, a_ts: int, b: Provenance, b_ts: int) -> bool:
    """True when (b_ts, b) is newer than (a_ts, a)."""
    return (b_ts, b.event_id, b.source) > (a_ts, a.event_id, a.source)


def oldest(a: tuple[int, str], b: tuple[int, str]) -> tuple[int, str]:
    """The first write of a record: earliest time, then the larger event id (as stores pick)."""
    if a[0] != b[0]:
        return a if a[0] < b[0] else b
    return max(a, b)


def merge(into: Upsert, update: Upsert) -> None:
    """Merge ``update`` into ``into`` in place, per property newest wins."""
    kept_ts = into.prop_ts
    if update.prop_ts is None and update.ts > into.ts and (
            not kept_ts or max(kept_ts.values()) < update.ts):
        # the common case, an update newer than all of ``into``: each of its properties
        # wins, the others keep their time (what the general case below gives then)
        values, was, update_props = into.props, into.ts, update.props
        if kept_ts:
            times = {name: kept_ts.get(name, was) for name in values
                     if name not in update_props}
        else:
            times = {name: was for name in values if name not in update_props}
        values.update(update_props)
        into.prop_ts = times or None
        created = into.created or (was, into.provenance.event_id)
        if update.created is not None or created[0] >= update.ts:
            created = oldest(created, update.created or (update.ts, update.provenance.event_id))
        into.created = created  # else the older is ``into``'s (what ``oldest`` gives)
        into.ts, into.provenance = update.ts, update.provenance
        return
    into_ts, update_ts = into.prop_ts or {}, update.prop_ts or {}
    merged_ts: dict[str, int] = {}
    props: dict[str, Any] = into.props
    for name, value in update.props.items():
        new_t = update_ts.get(name, update.ts)
        if name in props:
            old_t = into_ts.get(name, into.ts)
            old = props[name]
            newer = new_t > old_t or (
                new_t == old_t
                and ((value is not None and old is None) or (
                    value is not None and old is not None and value > old))
            )
            if not newer:
                continue
        props[name] = value
        merged_ts[name] = new_t
    if _latest(into.provenance, into.ts, update.provenance, update.ts):
        new_ts, provenance = update.ts, update.provenance
    else:
        new_ts, provenance = into.ts, into.provenance
    all_ts = {name: into_ts.get(name, into.ts) for name in props}
    all_ts.update(merged_ts)
    into.prop_ts = {name: t for name, t in all_ts.items() if t != new_ts} or None
    created_into = into.created or (into.ts, into.provenance.event_id)
    created_update = update.created or (update.ts, update.provenance.event_id)
    into.created = oldest(created_into, created_update)
    into.ts, into.provenance = new_ts, provenance


class Dedup(Protocol):
    """The pipeline's dedup stage.

    ``add`` takes in an event's updates (it owns them from then on) and returns
    those the caller writes now, possibly none; ``drain`` returns everything still
    held (at the end of a run). Every update taken in is returned exactly once,
    by ``add`` or ``drain`` or, for a stage flushed elsewhere, by its own flush,
    merged with the others of its key."""

    @property
    def collapsed(self) -> int:
        """Updates merged into an earlier one of the same key."""
        ...

    def add(self, upserts: Iterable[Upsert], now: int) -> list[Upsert]: ...

    def drain(self) -> list[Upsert]: ...


class DedupBuffer:
    """A :class:`Dedup` in memory: ``add`` returns the updates that open a key's window
    (in ``leading`` mode), the entries whose window has passed at ``now``, and the
    oldest beyond ``max_entries``."""

    def __init__(self, window_us: int, max_entries: int = 200_000,
                 mode: DedupMode = "leading") -> None:
        if window_us < 0 or max_entries < 1:
            raise ValueError("window_us must be >= 0 and max_entries >= 1")
        if mode not in DEDUP_MODES:
            raise ValueError(f"dedup mode must be one of {', '.join(DEDUP_MODES)}, not {mode!r}")
        self.window_us = window_us
        self.max_entries = max_entries
        self.leading = mode == "leading"
        self._entries: dict[tuple[str, ...], _Entry] = {}
        # the entries' keys in the dict's order (windows close from the front): the
        # oldest is found here, as a dict whose front was popped scans the holes left
        # there on every walk from its start
        self._order: deque[tuple[str, ...]] = deque()
        self.taken_in = 0
        self.collapsed = 0

    def __len__(self) -> int:
        """Keys whose window is open (with or without updates waiting)."""
        return len(self._entries)

    def add(self, upserts: Iterable[Upsert], now: int,
            origins: dict[tuple[str, ...], list[Any]] | None = None,
            origin: Any = None) -> list[Upsert]:
        """Take in updates; return what is due: in ``leading`` mode each update that
        opens its key's window, then the entries whose window passed (or beyond
        ``max_entries``).

        The buffer owns what it is given: it emits an upsert as given or merges
        later updates into one in place, so callers pass fresh upserts and do not
        reuse them. An upsert it returns is no longer its own (it keeps no reference).

        ``origins`` (the pipeline's, by key): ``origin`` is appended to the list of
        each update's key there (made when missing), in the same walk over the
        updates (each key worked out once).
        """
        entries, order = self._entries, self._order
        out: list[Upsert] = []
        leading = self.leading
        taken = collapsed = 0
        for upsert in upserts:
            taken += 1
            key = upsert.key
            if origins is not None:
                made = origins.get(key)
                if made is None:
                    origins[key] = [origin]
                else:
                    made.append(origin)
            entry = entries.get(key)
            if entry is None:
                if leading:
                    out.append(upsert)
                    entries[key] = [now, None]
                else:
                    entries[key] = [now, upsert]
                order.append(key)
            elif entry[MERGED] is None:  # the first update after the leading edge
                entry[MERGED] = upsert
            else:
                merge(entry[MERGED], upsert)
                collapsed += 1
        self.taken_in += taken
        self.collapsed += collapsed
        if order and len(entries) <= self.max_entries and (
                entries[order[0]][FIRST_SEEN] > now - self.window_us):
            return out  # nothing due: the oldest window is open, no overflow
        out.extend(self.due(now))
        return out

    def due(self, now: int) -> list[Upsert]:
        """Entries whose window has passed, oldest first (in the order they came);
        a window that passed with nothing after its leading edge just closes."""
        entries, order = self._entries, self._order
        overflow = len(entries) - self.max_entries
        cutoff = now - self.window_us
        out: list[Upsert] = []
        while order:
            entry = entries[order[0]]
            if entry[FIRST_SEEN] > cutoff and overflow <= 0:
                break
            del entries[order.popleft()]
            overflow -= 1
            if entry[MERGED] is not None:
                out.append(entry[MERGED])
        return out

    def drain(self) -> list[Upsert]:
        """Everything still buffered (at the end of a run, or on shutdown)."""
        out = [entry[MERGED] for entry in self._entries.values() if entry[MERGED] is not None]
        self._entries.clear()
        self._order.clear()
        return out
