"""The bulk writer's record format (storage/cassandra/bulk.py, read by
infra/bulk/SSTableLoaderMain.java): every planned write, put back together from the
JSON lines the way the Java side does, binds the same values to the same columns
as the write's own UPDATE. No server needed."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.storage.base import StorageError
from fleetgraph.storage.cassandra.bulk import RowEncoder
from fleetgraph.storage.cassandra.schema import (
    WIDE_EDGES,
    EdgeNamespace,
    NodeNamespace,
    stable_bucket,
)
from fleetgraph.storage.cassandra.writes import (
    Write,
    distinct_entries,
    plan_edge,
    plan_history,
    plan_node,
)

NOW = time.time_ns() // 1000
S = 1_000_000
_BIND = re.compile(r"(\w+) = \?")


def binds(cql: str) -> list[str]:
    """The bind names of an UPDATE as fleetgraph writes it: [ttl,] timestamp, the SET
    columns, the key columns."""
    using = ["ttl", "timestamp"] if "TTL ?" in cql else ["timestamp"]
    return using + _BIND.findall(cql)


def writes() -> list[Write]:
    """Writes of several tables: a node, a wide TTL'd edge with history, property
    groups of different event times (a merged upsert), None values and floats."""
    prov = Provenance("e1", "log:1", NOW - 50 * S, "test")
    node_ns = NodeNamespace.for_type("t_", FLEET.node("server"))
    cached = EdgeNamespace.for_type("t_", FLEET.edge("cached_at"), WIDE_EDGES)
    node = NodeUpsert("server", "server:1", {"status": "up", "gpus": 8}, NOW - 50 * S, prov,
                      prop_ts={"gpus": NOW - 90 * S})
    props = {p.name: None for p in FLEET.edge("cached_at").props}
    first = FLEET.edge("cached_at").props[0].name
    props[first] = "x" if FLEET.edge("cached_at").props[0].kind.name == "STRING" else 1
    edge = EdgeUpsert("cached_at", "artifact:a", "site:s", props, NOW - 40 * S, prov,
                      prop_ts={first: NOW - 60 * S})
    out = plan_node(node_ns.nodes, node, NOW)
    out += plan_edge(cached, edge, NOW) + plan_history(cached, edge, NOW)
    return out


def test_rows_put_back_together_bind_what_the_write_binds() -> None:
    planned = writes()
    encoder = RowEncoder(rows_per_message=3)
    lines = encoder.add(planned) + encoder.flush() + [encoder.end()]
    tables: dict[int, list[Any]] = {}
    statements: dict[int, tuple[int, list[int]]] = {}
    rebuilt: list[dict[str, Any]] = []
    for line in lines:
        assert line.endswith(b"\n") and b"\n" not in line[:-1]
        message = json.loads(line)
        if message[0] == "table":
            tables[message[1]] = message
        elif message[0] == "stmt":
            statements[message[1]] = (message[2], message[3])
        elif message[0] == "rows":
            tid, positions = statements[message[1]]
            _, _, keyspace, name, create, update, types = tables[tid]
            assert create.startswith(f"CREATE TABLE IF NOT EXISTS {keyspace}.{name} ")
            names = binds(update)
            assert len(types) == len(names)
            for row in message[2]:
                full: list[Any] = ["<unset>"] * len(names)
                for at, value in zip(positions, row, strict=True):
                    full[at] = value
                rebuilt.append({"table": f"{keyspace}.{name}",
                                **{n: v for n, v in zip(names, full, strict=True)
                                   if v != "<unset>"}})
        else:
            assert message == ["end"]
    expected = [{"table": w.table.qualified,
                 **dict(zip(binds(w.table.update_cql(w.columns)), w.params, strict=True))}
                for w in planned]
    key = json.dumps
    assert sorted(map(key, rebuilt)) == sorted(map(key, expected))
    assert encoder.rows == len(planned)


def test_declarations_once_per_table_and_statement() -> None:
    planned = writes() + writes()
    encoder = RowEncoder()
    lines = [json.loads(line) for line in encoder.add(planned) + encoder.flush()]
    declared = [m[2] + "." + m[3] for m in lines if m[0] == "table"]
    assert sorted(declared) == sorted({w.table.qualified for w in planned})
    statements = [m for m in lines if m[0] == "stmt"]
    assert len(statements) == len({(w.table.qualified, w.columns) for w in planned})


def test_the_bucket_directory_goes_with_the_rows_once_per_entry() -> None:
    """A wide side's entries travel with its rows (the SSTable writer gets the directory
    table, its key as text and int, its ``seen``); entries repeated in one batch go once,
    at the newest write."""
    cached = EdgeNamespace.for_type("t_", FLEET.edge("cached_at"), WIDE_EDGES)
    prov = Provenance("e1", "log:1", NOW, "test")
    edges = [EdgeUpsert("cached_at", f"artifact:{i}", "site:s", {"tier": 0}, NOW - i * S, prov)
             for i in range(40)]
    planned = [w for e in edges for w in plan_edge(cached, e, NOW) + plan_history(cached, e, NOW)]
    kept = distinct_entries(planned)
    directory = [w for w in kept if w.table.name == "buckets_in"]
    assert len(directory) == len({w.params[-1] for w in directory}) > 1
    for w in directory:  # the newest write of each bucket (no TTL: history is kept forever)
        newest = max(NOW - i * S for i in range(40) if stable_bucket(f"artifact:{i}", 8)
                     == w.params[-1])
        assert w.params == (newest, True, "site:s", w.params[-1])
    assert len(kept) == len(planned) - (2 * len(edges) - len(directory))
    lines = [json.loads(line) for line in RowEncoder().add(kept)]
    [table] = [m for m in lines if m[0] == "table" and m[3] == "buckets_in"]
    assert table[6] == ["bigint", "boolean", "text", "int"]  # timestamp, seen, to_id, bucket


def test_a_column_the_table_does_not_have_is_refused() -> None:
    write = writes()[0]
    bad = write._replace(columns=("p_nope", *write.columns[1:]))
    with pytest.raises(StorageError, match="no column"):
        RowEncoder().add([bad])
