from __future__ import annotations

import io

import fastavro

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.avro import from_record, graph_schemas, to_record
from fleetgraph.graph_model.export import GRAPH_SCHEMAS_DIR, rendered
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert

P = Provenance("e1", "jobs/0/42", 1_000, "fleetgraph/test")


def test_checked_in_graph_schemas_match_the_registry() -> None:
    on_disk = {p.name: p.read_text() for p in GRAPH_SCHEMAS_DIR.glob("*.avsc")}
    assert on_disk == rendered(FLEET), "run `fleetgraph schemas export` and commit schemas/graph"


def test_every_type_has_a_schema() -> None:
    names = set(graph_schemas(FLEET))
    assert names == {f"node.{n}" for n in FLEET.nodes} | {f"edge.{e}" for e in FLEET.edges}


def test_upserts_round_trip_through_avro() -> None:
    schemas = graph_schemas(FLEET)
    upserts: list[Upsert] = [
        NodeUpsert("cdu", "cdu:s1-c1", {"status": "fault", "supply_temp_c": None}, 1_000, P,
                   {"status": 900}, (800, "e0")),
        EdgeUpsert("ran_on", "job:j1", "server:n1", {"valid_from": 5, "valid_to": None,
                                                     "gpus": 8}, 1_000, P),
    ]
    for upsert, key in zip(upserts, ["node.cdu", "edge.ran_on"], strict=True):
        schema = fastavro.parse_schema(schemas[key])
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, to_record(upsert))
        buf.seek(0)
        record = fastavro.schemaless_reader(buf, schema)
        assert isinstance(record, dict)
        back = from_record(key.split(".")[0], key.split(".")[1], record)
        if upsert.created is None:
            upsert.created = (upsert.ts, upsert.provenance.event_id)
        assert back == upsert
