"""The embedded store's rows, built through RowLayout (worked out once per table),
are those of ``row_values`` (one property at a time), for every table of the fleet
and any upsert: some properties or none, unknown ones, merged property times,
a first write carried over."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.storage.embedded.store import RowLayout, row_values
from fleetgraph.storage.embedded.tables import Table

TABLES = [(Table.for_node(t), "node") for t in FLEET.nodes.values()] + [
    (Table.for_edge(t), "edge") for t in FLEET.edges.values()]


def _props(rng: random.Random, table: Table) -> dict[str, Any]:
    names = [p.name for p in table.props] + ["not_declared"]
    chosen = rng.sample(names, rng.randrange(0, len(names) + 1))
    return {name: rng.choice([None, rng.randrange(100), f"v{rng.randrange(5)}"])
            for name in chosen}


@pytest.mark.parametrize("seed", range(40))
def test_rows_of_the_layout_are_those_of_row_values(seed: int) -> None:
    rng = random.Random(seed)
    for table, kind in TABLES:
        props = _props(rng, table)
        ts = rng.randrange(1, 10**6)
        prop_ts = rng.choice([None, {}, {n: ts - rng.randrange(9) for n in props
                                        if rng.random() < 0.5}])
        created = rng.choice([None, (ts - 5, "e0")])
        provenance = Provenance(f"e{seed}", f"src{seed}", ts, "w1")
        upsert: NodeUpsert | EdgeUpsert
        if kind == "node":
            key: tuple[str, ...] = ("x:1",)
            upsert = NodeUpsert("x", "x:1", props, ts, provenance, prop_ts, created)
        else:
            key = ("a:1", "b:2")
            upsert = EdgeUpsert("x", "a:1", "b:2", props, ts, provenance, prop_ts, created)
        expected = row_values(table, key, props, ts, upsert)
        assert RowLayout(table).row(key, upsert) == expected
        assert len(expected) == len(table.all_columns)
