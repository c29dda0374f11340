"""Every scalar field answers on a fleet whose bytes and counts pass 2^31 (issue 8 item 4),
and ``Long`` refuses what is not a signed 64-bit integer with a clear error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import fields, replace
from typing import Any

import pytest
import strawberry
from graphql import get_named_type
from strawberry.schema.config import StrawberryConfig

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.types import NodeType, Prop, PropKind, Registry
from fleetgraph.serving.context import new_context
from fleetgraph.serving.guards import DEFAULT_LIMITS, Limits
from fleetgraph.serving.schema import build_schema
from fleetgraph.serving.types.scalars import SCALARS, Long
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.serving.conftest import NOW, T0, FleetWriter, H, build_small_fleet
from tests.serving.every_field import EveryField, introspected, reachable_leaves, resolved

BIG_SIZE = 54_000_000_000  # a 54 GB model artifact
BIG_DATASET = 5 * 10**12
BIG_HITS = 3_000_000_000  # cache hits of a busy replica
BIG = "artifact:sha256-big"
INT32_MAX = 2**31 - 1

# Every max_* guard lifted: the point is every field, not the limits (tested elsewhere).
SCHEMA = build_schema(limits=replace(
    DEFAULT_LIMITS, **{f.name: 10**12 for f in fields(Limits) if f.name.startswith("max_")}))
PROBE = "probe"  # a node type with no typed class: served as GenericNode


def probe_registry() -> Registry:
    registry = Registry(dict(FLEET.nodes), dict(FLEET.edges))
    registry.add_node(NodeType.declare(PROBE, [Prop("count", PropKind.INT)]))
    return registry


def build_fleet(w: FleetWriter) -> None:
    """The small fleet, and what it lacks to reach every type, with values past 2^31."""
    build_small_fleet(w)
    w.node("site:s1", jurisdiction="us")
    w.node("site:s2", jurisdiction="eu")
    w.node(BIG, kind="weights", content_hash="sha256:big", size_bytes=BIG_SIZE,
           created_at=T0 - 30 * H)
    w.edge("artifact_of", BIG, "model:m1")
    w.edge("derived_from", BIG, "artifact:sha256-a1")
    w.edge("produced", "job:j1", BIG, at=T0 + 4 * H)
    w.edge("cached_at", BIG, "site:s1", T0, tier=0, last_access=T0 + 22 * H, hits=BIG_HITS)
    w.node("dataset:d1", name="corpus", content_hash="sha256:d1", size_bytes=BIG_DATASET,
           jurisdiction="eu", created_at=T0 - 40 * H)
    w.edge("read", "job:j1", "dataset:d1", at=T0 + 1 * H)
    w.edge("cached_at", "dataset:d1", "site:s2", T0, tier=1, last_access=T0 + 1 * H, hits=7)
    w.node("switch:s1-tor1", role="tor", status="ok")
    w.edge("in_site", "switch:s1-tor1", "site:s1", T0 - 10 * H)
    w.edge("in_rack", "switch:s1-tor1", "rack:s1-r1", T0 - 10 * H)
    w.node("instrument:s1-i1", kind="microscope", status="ok")
    w.edge("attached_to", "instrument:s1-i1", "site:s1", T0 - 10 * H)
    w.node(f"{PROBE}:p1", count=BIG_HITS)


@pytest.fixture
def store() -> Iterator[SQLiteGraphStore]:
    registry = probe_registry()
    store = SQLiteGraphStore(registry, ":memory:", clock=lambda: NOW)
    build_fleet(FleetWriter(store))
    yield store
    store.close()


def execute(store: SQLiteGraphStore, document: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        context = new_context(store, registry=store.registry, clock=lambda: NOW)
        result = await SCHEMA.execute(document, context_value=context)
        assert result.errors is None, (document[:300], result.errors)
        assert result.data is not None
        return result.data

    return asyncio.run(run())


ARGUMENTS = {  # required arguments, by name, as GraphQL literals
    "componentId": '"cdu:s1-c1"',
    "modelId": '"model:m1"',
    "datasetId": '"dataset:d1"',
    "subject": '"dataset:d1"',
    "allowed": '["us"]',
    "edgeType": '"in_site"',
    "fromId": '"job:j1"',
    "toId": '"site:s1"',
    "edgeTypes": '["ran_on", "in_rack", "in_site"]',
    "start": '"rack:s1-r1"',
    "steps": '[{edgeType: "in_rack", direction: IN}]',
    "request": '{gpus: 1, modelId: "model:m1", datasetIds: ["dataset:d1"], '
               'allowedJurisdictions: ["us"]}',
}
ROOT_ARGUMENTS = {
    "node": [{"id": f'"{BIG}"'}],
    "nodes": [{"type": f'"{t}"'} for t in sorted(probe_registry().nodes)],
    "searchNodes": [{"type": '"artifact"',
                     "where": f'[{{property: "size_bytes", op: GT, value: {INT32_MAX}}}]'}],
    "lineage": [{"id": f'"{BIG}"', "direction": "UP"}, {"id": '"dataset:d1"',
                                                         "direction": "DOWN"}],
}


def test_every_scalar_field_answers_with_values_past_int32(store: SQLiteGraphStore) -> None:
    schema = introspected(SCHEMA)
    # depth 3 reaches the types only found 3 levels down (placement candidates parts)
    document = EveryField(schema, ARGUMENTS, ROOT_ARGUMENTS, depth=3).document()
    found = resolved(execute(store, document))
    missing = sorted(reachable_leaves(schema) - found.keys())
    assert not missing, f"fields never resolved (add data to build_fleet, or depth): {missing}"
    assert BIG_SIZE in found["Artifact", "sizeBytes"]
    assert BIG_DATASET in found["Dataset", "sizeBytes"]
    assert BIG_HITS in found["Replica", "hits"]
    assert BIG_HITS in found["ReplicaEvidence", "hits"]


def test_model_hotness_serves_a_54_gb_artifact(store: SQLiteGraphStore) -> None:
    data = execute(store, '{ modelHotness(modelId: "model:m1") '
                          "{ siteId replicas { hits artifact { id sizeBytes } } } }")
    s1 = data["modelHotness"][0]
    assert s1["siteId"] == "site:s1"
    assert {"hits": BIG_HITS, "artifact": {"id": BIG, "sizeBytes": BIG_SIZE}} in s1["replicas"]


def test_bytes_and_hits_are_long() -> None:
    schema = introspected(SCHEMA)
    for type_name, field in [("Artifact", "sizeBytes"), ("Dataset", "sizeBytes"),
                             ("Replica", "hits"), ("ReplicaEvidence", "hits")]:
        definition = schema.get_type(type_name).fields[field]  # type: ignore[union-attr]
        assert get_named_type(definition.type).name == "Long", (type_name, field)


# --- Long as an argument -------------------------------------------------------------


@strawberry.type
class Echo:
    @strawberry.field
    def echo(self, value: Long) -> Long:
        return value

    @strawberry.field
    def overflow(self) -> Long:
        return Long(2**63)


ECHO = strawberry.Schema(query=Echo, config=StrawberryConfig(scalar_map=SCALARS))


def echo_literal(literal: str) -> Any:
    return ECHO.execute_sync(f"{{ echo(value: {literal}) }}")


def echo_variable(value: object) -> Any:
    return ECHO.execute_sync("query($v: Long!) { echo(value: $v) }", {"v": value})


@pytest.mark.parametrize("value", [0, BIG_SIZE, 2**63 - 1, -(2**63)])
def test_long_takes_int64_as_literal_variable_and_decimal_string(value: int) -> None:
    for result in (echo_literal(str(value)), echo_literal(f'"{value}"'),
                   echo_variable(value), echo_variable(str(value))):
        assert result.errors is None, result.errors
        assert result.data == {"echo": value}


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**40])
def test_long_refuses_values_outside_int64(value: int) -> None:
    for result in (echo_literal(str(value)), echo_literal(f'"{value}"'),
                   echo_variable(value), echo_variable(str(value))):
        assert result.data is None
        (error,) = result.errors
        assert "Long is a signed 64-bit integer" in error.message
        assert "out of range" in error.message


@pytest.mark.parametrize("literal, variable", [
    ("1.5", 1.5), ("true", True), ('"12a"', "12a"), ('" 12"', " 12"), ('"١٢"', "١٢"),
])
def test_long_refuses_what_is_not_an_integer(literal: str, variable: object) -> None:
    for result in (echo_literal(literal), echo_variable(variable)):
        assert result.data is None
        (error,) = result.errors
        assert "Long takes an integer or a string of decimal digits" in error.message


def test_long_refuses_to_serve_a_value_outside_int64() -> None:
    result = ECHO.execute_sync("{ overflow }")
    (error,) = result.errors
    assert "out of range" in error.message
