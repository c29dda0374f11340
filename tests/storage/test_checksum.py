from __future__ import annotations

import random

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.storage.checksum import (
    digest_differences,
    graph_digests,
    namespace_of,
    namespaces,
    without_source,
)
from fleetgraph.storage.embedded import SQLiteGraphStore

T = 1_763_700_000_000_000
Write = NodeUpsert | EdgeUpsert


def _writes(source: str = "sim") -> list[Write]:
    def prov(n: int) -> Provenance:
        return Provenance(f"e{n}", f"{source}:{n}", T + n, "test")

    return [
        NodeUpsert("cdu", "cdu:s1-c1", {"status": "ok"}, T + 1, prov(1)),
        NodeUpsert("cdu", "cdu:s1-c1", {"status": "fault"}, T + 3, prov(3)),
        NodeUpsert("rack", "rack:s1-r1", {"status": "ok"}, T + 2, prov(2)),
        EdgeUpsert("cooled_by", "rack:s1-r1", "cdu:s1-c1", {"valid_from": T + 2}, T + 2,
                   prov(2)),
    ]


def _store(writes: list[Write]) -> SQLiteGraphStore:
    store = SQLiteGraphStore(FLEET)
    for write in writes:
        if isinstance(write, NodeUpsert):
            store.upsert_nodes([write])
        else:
            store.upsert_edges([write])
    return store


def test_every_namespace_has_a_digest_and_order_and_duplicates_do_not_matter() -> None:
    writes = _writes()
    shuffled = writes + writes[:2]
    random.Random(3).shuffle(shuffled)
    first, second = graph_digests(_store(writes), FLEET), graph_digests(_store(shuffled), FLEET)
    assert sorted(first) == namespaces(FLEET)
    assert len(first) == len(FLEET.nodes) + len(FLEET.edges)
    assert first == second
    assert (first["node_cdu"].rows, first["node_rack"].rows, first["edge_cooled_by"].rows,
            first["node_server"].rows) == (1, 1, 1, 0)


def test_a_changed_property_shows_in_its_namespace_only() -> None:
    writes = _writes()
    changed = [*writes, NodeUpsert("rack", "rack:s1-r1", {"status": "degraded"}, T + 9,
                                   Provenance("e9", "sim:9", T + 9, "test"))]
    diff = digest_differences(graph_digests(_store(writes), FLEET),
                              graph_digests(_store(changed), FLEET))
    assert len(diff) == 1 and diff[0].startswith("node_rack: ")


def test_without_source_compares_graphs_ingested_from_other_positions() -> None:
    here, there = _store(_writes("sim")), _store(_writes("fg.telemetry/0"))
    assert graph_digests(here, FLEET) != graph_digests(there, FLEET)
    assert (graph_digests(here, FLEET, without_source(here))
            == graph_digests(there, FLEET, without_source(there)))


def test_cassandra_dump_names_map_to_their_namespace() -> None:
    known = namespaces(FLEET)
    assert namespace_of("t1a2b3c0_node_cdu.nodes", known) == "node_cdu"
    assert namespace_of("fg_edge_in_site.in_edges", known) == "edge_in_site"
    assert namespace_of("node_rack", known) == "node_rack"
