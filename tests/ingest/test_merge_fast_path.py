"""dedup.merge against the merge it replaced (kept here as the reference): the same
record after any sequence of updates, whatever their order, times and values (the
fast path taken for updates newer than the record must change nothing)."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from fleetgraph.graph_model.records import NodeUpsert, Provenance, Upsert
from fleetgraph.ingest.stages.dedup import merge, oldest


def reference_merge(into: Upsert, update: Upsert) -> None:
    """The per-property newest-wins merge as written before the fast path."""
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
    a, b = into.provenance, update.provenance
    if (update.ts, b.event_id, b.source) > (into.ts, a.event_id, a.source):
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


def _upsert(rng: random.Random, i: int) -> NodeUpsert:
    ts = rng.choice([rng.randrange(0, 40), 10 * i])  # mostly in order, some not
    names = rng.sample(["a", "b", "c", "d"], rng.randrange(0, 5))
    props: dict[str, Any] = {n: rng.choice([None, rng.randrange(3)]) for n in names}
    prop_ts = None
    if props and rng.random() < 0.2:
        prop_ts = {n: ts - rng.randrange(0, 3) for n in props if rng.random() < 0.5} or None
    created = (ts - rng.randrange(5), f"e{rng.randrange(9)}") if rng.random() < 0.1 else None
    return NodeUpsert("gpu", "gpu:x", props, ts,
                      Provenance(f"e{rng.randrange(9)}", f"s{i}", ts, "w"), prop_ts, created)


@pytest.mark.parametrize("seed", range(300))
def test_merge_gives_what_the_reference_gives(seed: int) -> None:
    rng = random.Random(seed)
    updates = [_upsert(rng, i) for i in range(rng.randrange(2, 8))]
    fast, slow = copy.deepcopy(updates[0]), copy.deepcopy(updates[0])
    for update in updates[1:]:
        merge(fast, copy.deepcopy(update))
        reference_merge(slow, copy.deepcopy(update))
        assert fast == slow


def test_the_fast_path_keeps_older_times_of_properties_not_updated() -> None:
    def upsert(ts: int, props: dict[str, Any]) -> NodeUpsert:
        return NodeUpsert("gpu", "gpu:x", props, ts, Provenance(f"e{ts}", "s", ts, "w"))

    record = upsert(1, {"a": 1, "b": 2})
    merge(record, upsert(5, {"a": 3}))
    merge(record, upsert(9, {"c": 4}))
    assert record.props == {"a": 3, "b": 2, "c": 4}
    assert record.prop_ts == {"a": 5, "b": 1}
    assert (record.ts, record.created) == (9, (1, "e1"))
