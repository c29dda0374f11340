"""Browsing the graph through GraphQL: node, nodes, typed fields, relationships, edges."""

from __future__ import annotations

import asyncio
from typing import Any

from strawberry.utils.str_converters import to_camel_case

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Provenance
from fleetgraph.graph_model.types import NodeType, Prop, PropKind, Registry
from fleetgraph.serving.context import new_context
from fleetgraph.serving.schema import build_schema
from fleetgraph.serving.types.node import NODE_CLASSES
from fleetgraph.storage.embedded import SQLiteGraphStore


def test_node_by_id_with_typed_properties_and_origin(gql, timeline) -> None:
    data = gql(
        """{ node(id: "site:s1") {
              __typename id type properties
              origin { createdAt createdBy updatedAt latest { eventId source eventTime writer } }
              ... on Site { name region capacityKw status powerHeadroomKw }
        } }"""
    )["node"]
    assert data["__typename"] == "Site"
    assert (data["id"], data["type"], data["name"], data["region"]) == (
        "site:s1", "site", "s1", "west"
    )
    assert data["capacityKw"] == 1000.0
    assert data["powerHeadroomKw"] is None
    assert data["properties"] == {
        "name": "s1", "region": "west", "capacity_kw": 1000.0, "status": "ok"
    }
    origin = data["origin"]
    assert origin["createdAt"] == origin["updatedAt"] == timeline.iso(-48)
    assert origin["createdBy"] == origin["latest"]["eventId"]
    assert origin["latest"]["writer"] == "serving-test"
    assert origin["latest"]["source"].startswith("test/0/")


def test_time_properties_are_datetimes(gql, timeline) -> None:
    data = gql('{ node(id: "job:j2") { ... on Job { kind startedAt finishedAt } } }')
    assert data["node"] == {
        "kind": "training", "startedAt": timeline.iso(4), "finishedAt": None
    }


def test_missing_node_is_null_and_malformed_id_an_error(gql) -> None:
    assert gql('{ node(id: "rack:nope") { id } }') == {"node": None}
    assert gql('{ node(id: "toaster:t1") { id } }') == {"node": None}
    [message] = gql.errors('{ node(id: "no colon") { id } }')
    assert "not a fleetgraph id" in message


def test_nodes_pages_in_id_order(gql) -> None:
    query = """query ($after: String) { nodes(type: "server", first: 3, after: $after) {
                 items { id ... on Server { gpuCount } } endCursor hasNextPage } }"""
    first = gql(query)["nodes"]
    assert [n["id"] for n in first["items"]] == [
        "server:s1-r1-n1", "server:s1-r1-n2", "server:s1-r2-n1"
    ]
    assert first["items"][0]["gpuCount"] == 4
    assert (first["endCursor"], first["hasNextPage"]) == ("server:s1-r2-n1", True)
    second = gql(query, {"after": first["endCursor"]})["nodes"]
    assert [n["id"] for n in second["items"]] == ["server:s2-r1-n1"]
    assert (second["endCursor"], second["hasNextPage"]) == ("server:s2-r1-n1", False)


def test_nodes_arguments_are_checked(gql) -> None:
    [message] = gql.errors('{ nodes(type: "server", first: 1001) { hasNextPage } }')
    assert message == "'first' must be between 1 and 1000, got 1001"
    [message] = gql.errors('{ nodes(type: "toaster") { hasNextPage } }')
    assert message.startswith("unknown node type 'toaster'; known: application, artifact")


def test_relationships_as_of_a_time(gql, timeline) -> None:
    data = gql(
        """query ($before: DateTime, $after: DateTime) { node(id: "rack:s1-r2") { ... on Rack {
              everCooledBy: cdus { id }
              cdusBefore: cdus(at: $before) { id }
              cdusAfter: cdus(at: $after) { id }
              site { id name }
              servers { id rack { id } }
        } } }""",
        {"before": timeline.iso(1), "after": timeline.iso(3)},
    )["node"]
    assert [c["id"] for c in data["everCooledBy"]] == ["cdu:s1-c1", "cdu:s1-c2"]
    assert [c["id"] for c in data["cdusBefore"]] == ["cdu:s1-c1"]
    assert [c["id"] for c in data["cdusAfter"]] == ["cdu:s1-c2"]
    assert data["site"] == {"id": "site:s1", "name": "s1"}
    assert data["servers"] == [{"id": "server:s1-r2-n1", "rack": {"id": "rack:s1-r2"}}]


def test_an_interval_ending_at_the_instant_does_not_contain_it(gql, timeline) -> None:
    # job:j1 ran on server:s1-r1-n1 over [+1h, +4h)
    query = """query ($at: DateTime) { node(id: "server:s1-r1-n1") {
                 ... on Server { jobs(at: $at) { id } } } }"""
    jobs = [j["id"] for j in gql(query, {"at": timeline.iso(3)})["node"]["jobs"]]
    assert jobs == ["job:j1", "job:j6"]
    jobs = [j["id"] for j in gql(query, {"at": timeline.iso(4)})["node"]["jobs"]]
    assert jobs == []


def test_site_contents_and_dependencies(gql) -> None:
    data = gql(
        """{ node(id: "site:s1") { ... on Site {
              racks { id cdus { id racks { id } faults { id } } powerShelves { id } }
              cdus { id } powerShelves { id } switches { id } instruments { id }
              cachedArtifacts { artifactId tier artifact { id } }
        } } }"""
    )["node"]
    assert [r["id"] for r in data["racks"]] == ["rack:s1-r1", "rack:s1-r2"]
    r1 = data["racks"][0]
    assert r1["powerShelves"] == [{"id": "power_shelf:s1-p1"}]
    assert r1["cdus"] == [
        {
            "id": "cdu:s1-c1",
            "racks": [{"id": "rack:s1-r1"}, {"id": "rack:s1-r2"}],
            "faults": [{"id": "fault:cdu:s1-c1@20261121T030000Z"}],
        }
    ]
    assert [c["id"] for c in data["cdus"]] == ["cdu:s1-c1", "cdu:s1-c2"]
    assert data["powerShelves"] == [{"id": "power_shelf:s1-p1"}]
    assert data["switches"] == data["instruments"] == []
    assert [(r["artifactId"], r["tier"]) for r in data["cachedArtifacts"]] == [
        ("artifact:sha256-a1", 0), ("artifact:sha256-a2", 1)
    ]


def test_work_and_artifact_relationships(gql, timeline) -> None:
    data = gql(
        """{ job: node(id: "job:j1") { ... on Job {
               servers { id } gpus { id server { id } } application { name } user { name }
               model { name artifacts { id model { id } cachedAt { siteId hits
                 lastAccess validFrom validTo site { id } } } }
             } }
             user: node(id: "user:u1") { ... on User { jobs { id } } } }"""
    )
    job = data["job"]
    assert job["servers"] == [{"id": "server:s1-r1-n1"}]
    assert job["gpus"] == [{"id": "gpu:s1-r1-n1-g0", "server": {"id": "server:s1-r1-n1"}}]
    assert (job["application"], job["user"]) == ({"name": "chat"}, {"name": "ada"})
    a1, a2 = job["model"]["artifacts"]
    assert a1["model"] == {"id": "model:m1"}
    assert a1["cachedAt"][0] == {
        "siteId": "site:s1", "hits": 15, "lastAccess": timeline.iso(20),
        "validFrom": timeline.iso(0), "validTo": None, "site": {"id": "site:s1"},
    }
    assert [r["siteId"] for r in a2["cachedAt"]] == ["site:s1", "site:s2"]
    assert [j["id"] for j in data["user"]["jobs"]] == [f"job:j{i}" for i in range(1, 7)]


def test_generic_neighbours_with_a_window_and_edge_provenance(gql, timeline) -> None:
    data = gql(
        """query ($from: DateTime, $to: DateTime) { node(id: "cdu:s1-c1") {
              neighbours(edgeType: "cooled_by", direction: IN, from: $from, to: $to) {
                type fromId toId validFrom validTo properties
                from { id ... on Rack { gpuGeneration } } to { id }
                origin { latest { eventTime } }
              }
              all: neighbours(edgeType: "cooled_by", direction: IN) { fromId }
        } }""",
        {"from": timeline.iso(3), "to": timeline.iso(5)},
    )["node"]
    [edge] = data["neighbours"]
    assert edge == {
        "type": "cooled_by",
        "fromId": "rack:s1-r1",
        "toId": "cdu:s1-c1",
        "validFrom": timeline.iso(-10),
        "validTo": None,
        "properties": {"valid_from": timeline.us(-10)},
        "from": {"id": "rack:s1-r1", "gpuGeneration": "gb200"},
        "to": {"id": "cdu:s1-c1"},
        "origin": {"latest": {"eventTime": timeline.iso(-10)}},
    }
    assert [e["fromId"] for e in data["all"]] == ["rack:s1-r1", "rack:s1-r2"]


def test_neighbours_arguments_are_checked(gql, timeline) -> None:
    [message] = gql.errors('{ node(id: "cdu:s1-c1") { neighbours(edgeType: "cools") { toId } } }')
    assert message.startswith("unknown edge type 'cools'; known: allocated, artifact_of")
    [message] = gql.errors(
        'query ($t: DateTime) { node(id: "cdu:s1-c1") { '
        'neighbours(edgeType: "had_fault", at: $t, from: $t) { toId } } }',
        {"t": timeline.iso(1)},
    )
    assert message == "give either 'at' or 'from'/'to', not both"


def test_every_declared_node_type_has_a_typed_class_with_all_its_properties(gql) -> None:
    build_schema()  # registers the typed classes
    assert set(NODE_CLASSES) == set(FLEET.nodes)
    for type_name, cls in NODE_CLASSES.items():
        fields = gql(f'{{ __type(name: "{cls.__name__}") {{ fields {{ name }} }} }}')
        names = {f["name"] for f in fields["__type"]["fields"]}
        declared = {to_camel_case(p.name) for p in FLEET.node(type_name).props}
        assert declared <= names, (type_name, declared - names)


def test_a_type_without_a_typed_class_is_served_as_generic_node() -> None:
    registry = Registry(nodes=dict(FLEET.nodes), edges=dict(FLEET.edges))
    registry.add_node(NodeType.declare("pump", [Prop("flow_lpm", PropKind.FLOAT)]))
    store = SQLiteGraphStore(registry, ":memory:")
    store.upsert_nodes(
        [NodeUpsert("pump", "pump:p1", {"flow_lpm": 12.5}, 1, Provenance("e1", "t/0/1", 1, "t"))]
    )

    async def run() -> object:
        context = new_context(store, registry=registry)
        return await build_schema().execute(
            '{ node(id: "pump:p1") { __typename id type properties } '
            '  nodes(type: "pump") { items { id } } }',
            context_value=context,
        )

    result = asyncio.run(run())
    assert result.errors is None  # type: ignore[attr-defined]
    assert result.data == {  # type: ignore[attr-defined]
        "node": {
            "__typename": "GenericNode", "id": "pump:p1", "type": "pump",
            "properties": {"flow_lpm": 12.5},
        },
        "nodes": {"items": [{"id": "pump:p1"}]},
    }
    store.close()


def test_unexpected_errors_are_masked_in_production_and_logged(fleet, gql_on, caplog) -> None:
    class BrokenStore(type(fleet)):  # type: ignore[misc]
        def get_nodes(self, ids):  # type: ignore[no-untyped-def]
            raise KeyError("internal detail")

    broken = BrokenStore(fleet.inner)
    query = '{ node(id: "site:s1") { id } }'
    # development shows the message, to whoever is developing
    assert gql_on(broken).errors(query) == ["'internal detail'"]

    async def in_production() -> Any:
        return await build_schema(production=True).execute(
            query, context_value=new_context(broken))

    result = asyncio.run(in_production())
    assert [e.message for e in result.errors] == ["Unexpected error."]
    assert "internal detail" in caplog.text


def test_expected_errors_are_shown_not_logged(gql, caplog) -> None:
    [message] = gql.errors('{ affectedJobs(componentId: "cdu:nope") { truncated } }')
    assert message == "no component 'cdu:nope' in the graph"
    assert caplog.records == []
