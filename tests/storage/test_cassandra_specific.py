"""What the Cassandra backend does beyond the contract suite.

Tests marked ``integration`` need a Cassandra on 127.0.0.1:9042 (see the
``cassandra_graphs`` fixture in tests/conftest.py: they skip without one, and
fail when FLEETGRAPH_REQUIRE_STACK=1); the others plan writes and schema
changes without a server.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from cassandra import (
    ConsistencyLevel,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.graph_model.types import EdgeType, NodeType, Prop, PropKind, Registry
from fleetgraph.storage.base import Direction, StorageError, StorageUnavailable
from fleetgraph.storage.cassandra import CassandraGraphStore, Wide
from fleetgraph.storage.cassandra.migrate import plan_migration
from fleetgraph.storage.cassandra.schema import (
    CREATED_TS_BASE,
    WIDE_EDGES,
    EdgeNamespace,
    NodeNamespace,
    stable_bucket,
)
from fleetgraph.storage.cassandra.session import driver_errors, storage_error
from fleetgraph.storage.cassandra.writes import (
    decode_created,
    decode_latest,
    encode_latest,
    plan_edge,
    plan_node,
    remaining_ttl,
)
from fleetgraph.storage.config import CassandraConfig
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.conftest import CassandraGraphs

NOW = time.time_ns() // 1000
S = 1_000_000
DAY = 24 * 3600 * S


def prov(event_id: str, t: int, source: str = "test:0") -> Provenance:
    return Provenance(event_id, source, t, "cassandra-test")


@pytest.fixture
def cassandra(cassandra_graphs: CassandraGraphs) -> Iterator[CassandraGraphStore]:
    store = cassandra_graphs.store()
    yield store
    cassandra_graphs.release(store)


# --- without a server ---------------------------------------------------------
def test_a_merged_upsert_writes_one_statement_per_event_time() -> None:
    table = NodeNamespace.for_type("fg_", FLEET.node("cdu")).nodes
    merged = NodeUpsert(
        "cdu", "cdu:c1", {"status": "ok", "capacity_kw": 250.0, "flow_lpm": 375}, NOW,
        prov("e3", NOW), prop_ts={"status": NOW - 20, "flow_lpm": NOW - 10},
        created=(NOW - 20, "e1"),
    )
    writes = plan_node(table, merged, NOW)
    by_time = {w.params[0]: w for w in writes}
    assert set(by_time) == {NOW, NOW - 10, NOW - 20, CREATED_TS_BASE - (NOW - 20)}
    assert by_time[NOW].columns == ("p_capacity_kw", "updated_at", "latest")
    assert by_time[NOW - 10].columns == ("p_flow_lpm",)
    assert by_time[NOW - 10].params == (NOW - 10, 375.0, "cdu:c1")  # an int for a double
    assert by_time[NOW - 20].columns == ("p_status",)
    created = by_time[CREATED_TS_BASE - (NOW - 20)]
    assert decode_created(created.params[1]) == (NOW - 20, "e1")
    assert {w.partition for w in writes} == {("fg_node_cdu.nodes", "cdu:c1")}


def test_wide_sides_spread_by_the_other_end_and_narrow_sides_use_bucket_zero() -> None:
    used = EdgeNamespace.for_type("fg_", FLEET.edge("used_model"), WIDE_EDGES)
    assert (used.out_edges.buckets, used.in_edges.buckets) == (1, 16)
    write = EdgeUpsert("used_model", "job:j1", "model:m1", {}, NOW, prov("e", NOW))
    keys = {w.table.name: w.params[-3:] for w in plan_edge(used, write, NOW)}
    assert keys == {
        "out_edges": ("job:j1", 0, "model:m1"),
        "in_edges": ("model:m1", stable_bucket("job:j1", 16), "job:j1"),
        "buckets_in": (True, "model:m1", stable_bucket("job:j1", 16)),  # its directory
    }
    spread = {"in_rack": Wide(Direction.OUT, 4)}
    out_wide = EdgeNamespace.for_type("fg_", FLEET.edge("in_rack"), spread)
    write = EdgeUpsert("in_rack", "server:n1", "rack:r1", {}, NOW, prov("e", NOW))
    keys = {w.table.name: w.params[-3:] for w in plan_edge(out_wide, write, NOW)}
    assert keys["out_edges"] == ("server:n1", stable_bucket("rack:r1", 4), "rack:r1")
    assert keys["in_edges"] == ("rack:r1", 0, "server:n1")
    assert keys["buckets_out"] == (True, "server:n1", stable_bucket("rack:r1", 4))
    assert stable_bucket("job:j1", 16) == stable_bucket("job:j1", 16)  # crc32, not hash()


def test_ttl_is_what_is_left_after_the_event_time() -> None:
    assert remaining_ttl(None, NOW - 400 * DAY, NOW) is None
    assert remaining_ttl(30, NOW - 30 * S, NOW) == 0  # expired: not written
    assert remaining_ttl(30, NOW - 31 * S, NOW) == 0
    left = remaining_ttl(30, NOW - 10 * S, NOW)
    assert left in (20, 21)  # dies at the first whole second at or after event + TTL
    for now in range(NOW, NOW + 3 * S, S // 7):  # the same death second from any "now"
        assert now // S + (remaining_ttl(30, NOW - 10 * S, now) or 0) == -(-(NOW + 20 * S) // S)


def test_latest_provenance_sorts_like_its_tuple() -> None:
    pairs = [("e1", "a"), ("e1", "b"), ("e10", "a"), ("e1x", ""), ("e2", "a"), ("e1", "ab")]
    encoded = {p: encode_latest(prov(p[0], NOW, p[1])) for p in pairs}
    assert sorted(pairs) == sorted(pairs, key=encoded.__getitem__)
    assert decode_latest(encoded[("e1", "ab")]) == prov("e1", NOW, "ab")
    with pytest.raises(StorageError):
        encode_latest(prov("bad\x00id", NOW))


def _tiny_registry(extra: tuple[Prop, ...] = (), ttl: int | None = None) -> Registry:
    registry = Registry()
    registry.add_node(NodeType.declare("rack", [Prop("status", PropKind.STRING), *extra]))
    registry.add_node(NodeType.declare("cdu", [Prop("status", PropKind.STRING)]))
    registry.add_edge(EdgeType.declare("cooled_by", ["rack"], ["cdu"], temporal=True,
                                       ttl_seconds=ttl))
    return registry


def _metadata(namespaces: list[Any]) -> dict[str, Any]:
    """The driver's schema metadata, faked: what init_schema() would find after creating
    ``namespaces``."""
    keyspaces: dict[str, Any] = {}
    for ns in namespaces:
        tables = {}
        for t in ns.schema_tables:
            columns = {c: SimpleNamespace(cql_type=k) for c, k in [*t.value_columns]}
            columns.update({c: SimpleNamespace(cql_type=k) for c, k in
                            [("updated_at", "bigint"), ("latest", "text"), ("created", "text")]})
            options = {"comment": t.comment, "default_time_to_live": t.ttl_seconds or 0}
            tables[t.name] = SimpleNamespace(columns=columns, options=options)
        keyspaces[ns.keyspace] = SimpleNamespace(tables=tables)
    return keyspaces


def test_migration_plans_only_what_is_missing() -> None:
    def namespaces(registry: Registry, wide: dict[str, Wide] | None = None) -> list[Any]:
        return [
            *(NodeNamespace.for_type("x_", t) for t in registry.nodes.values()),
            *(EdgeNamespace.for_type("x_", t, wide or {}) for t in registry.edges.values()),
        ]

    base = namespaces(_tiny_registry())
    fresh = plan_migration({}, base, "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    assert (len(fresh.keyspaces), len(fresh.tables), fresh.alters) == (3, 8, [])  # 4: time index
    assert plan_migration(_metadata(base), base, "").statements == []
    room = (Prop("room", PropKind.STRING),)
    grown = plan_migration(_metadata(base), namespaces(_tiny_registry(room)), "")
    assert grown.statements == ["ALTER TABLE x_node_rack.nodes ADD p_room text"]
    ttl = plan_migration(_metadata(base), namespaces(_tiny_registry(ttl=60)), "")
    assert len(ttl.alters) == 2 and all("default_time_to_live = 60" in a for a in ttl.alters)
    rebucketed = plan_migration(
        _metadata(base), namespaces(_tiny_registry(), {"cooled_by": Wide(Direction.IN, 4)}), ""
    )
    assert rebucketed.conflicts and "4" in rebucketed.conflicts[0]


def test_an_unreachable_cluster_is_unavailable_not_a_refusal() -> None:
    with pytest.raises(StorageUnavailable, match="connect failed") as raised:
        CassandraGraphStore(FLEET, CassandraConfig(port=1), schema="trust")
    assert isinstance(raised.value.__cause__, NoHostAvailable)


@pytest.mark.parametrize("error", [
    NoHostAvailable("Unable to connect to any servers", {"127.0.0.1:9042": "refused"}),
    OperationTimedOut("no response in 30 s"),
    Unavailable("not enough replicas", ConsistencyLevel.LOCAL_QUORUM, 2, 1),
    ReadTimeout("read timed out"),
    WriteTimeout("write timed out", write_type=0),  # SIMPLE
    ConnectionException("connection lost"),
    OSError("connection reset"),
], ids=lambda e: type(e).__name__)
def test_driver_outage_errors_map_to_storage_unavailable(error: Exception) -> None:
    with pytest.raises(StorageUnavailable) as raised, driver_errors("write", "here:9042"):
        raise error
    assert raised.value.__cause__ is error
    assert isinstance(storage_error("write failed", error), StorageUnavailable)


@pytest.mark.parametrize("error", [
    InvalidRequest("unconfigured table nodes"), Unauthorized("no"), ValueError("bad value"),
], ids=lambda e: type(e).__name__)
def test_refusals_map_to_storage_error(error: Exception) -> None:
    mapped = storage_error("write failed", error)
    assert isinstance(mapped, StorageError) and not isinstance(mapped, StorageUnavailable)
    if isinstance(error, InvalidRequest):
        with pytest.raises(StorageError) as raised, driver_errors("write", "here:9042"):
            raise error
        assert not isinstance(raised.value, StorageUnavailable)


# --- on a server --------------------------------------------------------------
@pytest.mark.integration
def test_a_wide_side_spreads_over_buckets_and_reads_back_whole_and_sorted(
    cassandra: CassandraGraphStore,
) -> None:
    jobs = [f"job:j{i:04d}" for i in range(400)]
    random.Random(5).shuffle(jobs)
    cassandra.upsert_edges([
        EdgeUpsert("used_model", j, "model:m1", {}, NOW, prov(f"e-{j}", NOW)) for j in jobs
    ])
    table = cassandra._edge_ns("used_model").in_edges
    per_bucket = [
        len(list(cassandra.session.execute(
            f"SELECT from_id FROM {table.qualified} WHERE to_id = %s AND bucket = %s",
            ("model:m1", b),
        )))
        for b in range(table.buckets)
    ]
    assert table.buckets == 16 and sum(per_bucket) == 400 and min(per_bucket) > 0
    got = cassandra.neighbours("used_model", ["model:m1", "model:none"], Direction.IN)
    assert [e.from_id for e in got["model:m1"]] == sorted(jobs)
    assert got["model:none"] == []
    assert [e.to_id for e in cassandra.neighbours(
        "used_model", ["job:j0007"], Direction.OUT)["job:j0007"]] == ["model:m1"]


def _workload(rng: random.Random) -> list[NodeUpsert | EdgeUpsert]:
    """Writes with ties, merged upserts (prop_ts, created) and reopened intervals."""
    writes: list[NodeUpsert | EdgeUpsert] = []
    for i in range(120):
        t = NOW + rng.randrange(6) * S
        cdu = f"cdu:c{rng.randrange(4)}"
        props: dict[str, Any] = {"status": rng.choice(["ok", "fault", "degraded"])}
        if rng.random() < 0.5:
            props["supply_temp_c"] = rng.choice([40.0, 44.5, 47.25])
        upsert = NodeUpsert("cdu", cdu, props, t, prov(f"e{i:03d}", t, f"topic/0/{i}"))
        if rng.random() < 0.3:  # a merged upsert from the dedup stage
            upsert.prop_ts = {"status": t - S}
            upsert.created = (t - 2 * S, f"e{i:03d}-first")
        writes.append(upsert)
        job, server = f"job:j{rng.randrange(5)}", f"server:n{rng.randrange(3)}"
        edge_props: dict[str, Any] = {"gpus": rng.choice([4, 8])}
        edge_props[rng.choice(["valid_from", "valid_to"])] = t
        writes.append(EdgeUpsert("ran_on", job, server, edge_props, t, prov(f"r{i:03d}", t)))
    return writes


@pytest.mark.integration
def test_writes_in_any_order_converge_to_what_the_embedded_store_holds(
    cassandra: CassandraGraphStore,
) -> None:
    rng = random.Random(11)
    writes = _workload(rng)
    embedded = SQLiteGraphStore(FLEET)
    for w in writes:
        if isinstance(w, NodeUpsert):
            embedded.upsert_nodes([w])
        else:
            embedded.upsert_edges([w])
    shuffled = writes + rng.sample(writes, 40)
    rng.shuffle(shuffled)
    for i in range(0, len(shuffled), 25):  # several calls, duplicates across them
        chunk = shuffled[i : i + 25]
        cassandra.upsert_nodes([w for w in chunk if isinstance(w, NodeUpsert)])
        cassandra.upsert_edges([w for w in chunk if isinstance(w, EdgeUpsert)])
    cdus = [f"cdu:c{i}" for i in range(4)]
    assert cassandra.get_nodes(cdus) == embedded.get_nodes(cdus)
    for ids, direction in (([f"job:j{i}" for i in range(5)], Direction.OUT),
                           ([f"server:n{i}" for i in range(3)], Direction.IN)):
        assert cassandra.neighbours("ran_on", ids, direction) == embedded.neighbours(
            "ran_on", ids, direction)


@pytest.mark.integration
def test_equal_event_times_pick_the_larger_event_for_latest_and_created(
    cassandra: CassandraGraphStore,
) -> None:
    for event_id in ("e-b", "e-c", "e-a"):
        cassandra.upsert_nodes([NodeUpsert("rack", "rack:r1", {"status": "ok"}, NOW,
                                           prov(event_id, NOW))])
    origin = cassandra.get_nodes(["rack:r1"])["rack:r1"].origin
    assert origin is not None
    assert (origin.created_at, origin.created_by) == (NOW, "e-c")
    assert (origin.updated_at, origin.latest.event_id) == (NOW, "e-c")


@pytest.mark.integration
def test_dumps_agree_whatever_the_order(cassandra_graphs: CassandraGraphs) -> None:
    writes = _workload(random.Random(2))
    dumps = []
    for seed in (1, 2):
        store = cassandra_graphs.store()
        try:
            order = writes[:]
            random.Random(seed).shuffle(order)
            store.upsert_nodes([w for w in order if isinstance(w, NodeUpsert)])
            store.upsert_edges([w for w in order if isinstance(w, EdgeUpsert)])
            prefix = store.config.keyspace_prefix
            dumps.append([(name.removeprefix(prefix), row) for name, row in store.dump()])
        finally:
            cassandra_graphs.release(store)
    nodes = {w.id for w in writes if isinstance(w, NodeUpsert)}
    edges = {(w.from_id, w.to_id) for w in writes if isinstance(w, EdgeUpsert)}
    assert dumps[0] == dumps[1]
    assert len(dumps[0]) == len(nodes) + 2 * len(edges)


@pytest.mark.integration
def test_ttl_counts_from_the_event_time(cassandra: CassandraGraphStore) -> None:
    ttl = FLEET.edge("cached_at").ttl_seconds
    assert ttl is not None
    now = time.time_ns() // 1000
    soon = now - ttl * S + 3 * S  # an event of long ago: 3 s left
    cassandra.upsert_edges([
        EdgeUpsert("cached_at", "artifact:a1", "site:s1", {"tier": 0}, soon, prov("e1", soon)),
        EdgeUpsert("cached_at", "artifact:a2", "site:s1", {"tier": 1}, now, prov("e2", now)),
        EdgeUpsert("cached_at", "artifact:a3", "site:s1", {"tier": 2}, now - ttl * S - S,
                   prov("e3", now)),  # expired before it arrived: never written
    ])
    table = cassandra._edge_ns("cached_at").out_edges
    left = {
        row[0]: row[1]
        for row in cassandra.session.execute(
            f"SELECT from_id, TTL(p_tier) FROM {table.qualified} WHERE from_id IN "
            "('artifact:a1', 'artifact:a2', 'artifact:a3') AND bucket = 0"
        )
    }
    assert set(left) == {"artifact:a1", "artifact:a2"}
    assert left["artifact:a1"] <= 4 and left["artifact:a2"] > ttl - 60
    got = cassandra.neighbours("cached_at", ["site:s1"], Direction.IN)["site:s1"]
    assert [e.from_id for e in got] == ["artifact:a1", "artifact:a2"]
    time.sleep(4.5)
    got = cassandra.neighbours("cached_at", ["site:s1"], Direction.IN)["site:s1"]
    assert [e.from_id for e in got] == ["artifact:a2"]
    raw = list(cassandra.session.execute(
        f"SELECT from_id FROM {table.qualified} WHERE from_id = 'artifact:a1' AND bucket = 0"))
    assert raw == []  # gone from Cassandra itself, not only hidden
    assert cassandra.expire(now + 10 * S) == 0


@pytest.mark.integration
def test_init_is_idempotent_and_adds_newly_declared_properties(
    cassandra_graphs: CassandraGraphs,
) -> None:
    registry = _tiny_registry()
    store = cassandra_graphs.store(registry)
    grown_store = None
    try:
        assert store.init_schema() == []  # made by the fixture already: nothing to do
        assert store.init_schema() == []
        store.upsert_nodes([NodeUpsert("rack", "rack:r1", {"status": "ok"}, NOW, prov("e1", NOW))])
        grown = dataclasses.replace(registry, nodes=dict(registry.nodes))
        grown.nodes["rack"] = NodeType.declare(
            "rack", [Prop("status", PropKind.STRING), Prop("room", PropKind.STRING)])
        where = store.config
        with pytest.raises(StorageError, match="fleetgraph storage init"):
            CassandraGraphStore(grown, where)
        grown_store = CassandraGraphStore(grown, where, schema="init")
        table = grown_store._node_ns("rack").nodes
        columns = grown_store._cluster.metadata.keyspaces[table.keyspace].tables["nodes"].columns
        assert "p_room" in columns
        assert grown_store.init_schema() == []
        grown_store.upsert_nodes([
            NodeUpsert("rack", "rack:r1", {"room": "b2"}, NOW + 1, prov("e2", NOW + 1))])
        assert grown_store.get_nodes(["rack:r1"])["rack:r1"].props == {"status": "ok", "room": "b2"}
        with pytest.raises(StorageError, match="buckets"):
            CassandraGraphStore(grown, where, wide_edges={"cooled_by": Wide(Direction.IN, 4)},
                                schema="init")
    finally:
        if grown_store is not None:
            grown_store.close()
        cassandra_graphs.release(store)


@pytest.mark.integration
def test_driver_errors_surface_as_storage_errors(cassandra_graphs: CassandraGraphs) -> None:
    store = cassandra_graphs.store()
    store.close()
    with pytest.raises(StorageError, match="failed"):
        store.get_nodes(["cdu:c1"])
    with pytest.raises(StorageError, match="no namespace"):
        store.neighbours("toaster_of", ["cdu:c1"], Direction.OUT)
    cassandra_graphs.free.append(store.config.keyspace_prefix)  # unused: hand it back


@pytest.mark.integration
def test_describe_lists_one_keyspace_per_node_and_edge_type(
    cassandra: CassandraGraphStore,
) -> None:
    from fleetgraph.storage.cassandra.describe import describe_keyspaces
    from fleetgraph.storage.cassandra.read_models import KEYSPACE_SUFFIX as READ_MODELS_KEYSPACE

    keyspaces = describe_keyspaces(cassandra.config)
    names = {k.name for k in keyspaces}
    prefix = cassandra.config.keyspace_prefix
    # one keyspace per node and edge type, and the derived read models beside them
    assert names == {f"{prefix}node_{t}" for t in FLEET.nodes} | {
        f"{prefix}edge_{t}" for t in FLEET.edges} | {f"{prefix}{READ_MODELS_KEYSPACE}"}
    by_name = {k.name: k for k in keyspaces}
    for edge_type in FLEET.edges:
        tables = {t.table: t for t in by_name[f"{prefix}edge_{edge_type}"].tables}
        declared = FLEET.edge(edge_type)
        history = {"history_out", "history_in"} if declared.keeps_history else set()
        index = {"ends_out", "ends_in", "open_out", "open_in"} if (
            declared.temporal and not declared.keeps_history) else set()
        directory = {"buckets_in"} if edge_type in WIDE_EDGES else set()  # wide: IN sides
        assert set(tables) == {"out_edges", "in_edges"} | history | index | directory, edge_type
        for name in index:
            assert tables[name].comment.endswith("time index layout=1 ready")
        for name in directory:  # expiring no sooner than the rows and history it lists
            assert tables[name].comment.endswith("bucket directory layout=1 ready")
            assert tables[name].default_ttl_s == (
                0 if declared.keeps_history and declared.history_seconds is None
                else max(declared.ttl_seconds or 0, declared.history_seconds or 0))
        expected_ttl = declared.ttl_seconds or 0
        assert {tables[t].default_ttl_s for t in ("out_edges", "in_edges")} == {expected_ttl}
        for name in history:  # kept for the history retention, stated in the comment
            assert tables[name].default_ttl_s == (declared.history_seconds or 0)
            kept = "forever" if declared.history_seconds is None else f"{declared.history_seconds}s"
            assert f"history retention={kept}" in tables[name].comment


def test_the_replication_map_is_parsed_once_not_on_every_read(
    cassandra: CassandraGraphStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reads ask whether every node is a replica on every call, from the read pool's
    threads; ast.literal_eval there failed now and then on CPython 3.11 ("AST
    constructor recursion depth mismatch", cpython#106905), so the map is parsed when the
    store is made."""
    from fleetgraph.storage.cassandra import store as store_module

    def parsed(replication: str) -> int | None:
        raise AssertionError("the replication map parsed again")

    monkeypatch.setattr(store_module, "replication_factor", parsed)
    cassandra.upsert_nodes([NodeUpsert("site", "site:a", {"region": "west"}, NOW, prov("e", NOW))])
    reads = [lambda: cassandra.get_nodes(["site:a"]) for _ in range(8)]
    assert all("site:a" in found for found in cassandra.run_reads(reads))
    assert cassandra.neighbours("in_site", ["site:a"], Direction.IN) == {"site:a": []}


def test_read_models_that_grow_with_history_spread_by_key_group() -> None:
    from fleetgraph.storage.cassandra.read_models import SPREAD, bucket_of, by_bucket, group_of

    assert group_of("model:m1 site:s0001") == "model:m1"
    assert group_of("dataset:ds-0001#12") == "dataset:ds-0001" and group_of("x") == "x"
    assert bucket_of("site_state", "site:s0001") == 0 and bucket_of("other", "k") == 0
    sites = {bucket_of("model_site_items", f"model:m1 site:s{i:04d}") for i in range(500)}
    assert len(sites) == 1  # a model's rows by site: one partition, one read
    items = {bucket_of("replicas", f"artifact:a{i:05d}") for i in range(2000)}
    assert items == set(range(SPREAD["replicas"]))  # an item's row: anywhere
    keys = ["artifact:b", "artifact:a", "artifact:b"]
    assert sorted(k for found in by_bucket("replicas", keys).values() for k in found) == [
        "artifact:a", "artifact:b"]


@pytest.mark.integration
def test_read_model_rows_sit_in_their_key_groups_partitions(
    cassandra: CassandraGraphStore,
) -> None:
    from fleetgraph.storage.cassandra.read_models import bucket_of

    rows = {f"artifact:a{i:04d}": f"r{i}" for i in range(300)}
    sites = {f"model:m{m} site:s{i:03d}": f"{m}/{i}" for m in range(3) for i in range(150)}
    cassandra.put_read_models("replicas", rows)
    cassandra.put_read_models("model_site_items", sites)
    cassandra.put_read_models("site_state", {"site:s001": "1", "site:s002": "2"})
    table = cassandra._read_models.qualified
    stored = {(r[0], r[1], r[2]) for r in cassandra.session.execute(
        f"SELECT model, bucket, key FROM {table}")}
    assert stored == {("replicas", bucket_of("replicas", k), k) for k in rows} | {
        ("model_site_items", bucket_of("model_site_items", k), k) for k in sites} | {
        ("site_state", 0, "site:s001"), ("site_state", 0, "site:s002")}
    assert len({b for m, b, _ in stored if m == "replicas"}) > 16  # spread
    for m in range(3):  # each model's rows in one partition
        assert len({b for model, b, k in stored
                    if model == "model_site_items" and k.startswith(f"model:m{m} ")}) == 1
    assert cassandra.get_read_models("replicas") == rows
    assert cassandra.get_read_models("model_site_items") == sites
    asked = [*list(rows)[::7], "artifact:none", *list(rows)[:3]]
    assert cassandra.get_read_models("replicas", asked) == {
        k: rows[k] for k in asked if k in rows}
    cassandra.put_read_models("replicas", {k: None for k in list(rows)[:100]})
    assert cassandra.count("read_model_replicas") == 200
    assert cassandra.count("read_model_model_site_items") == 450
