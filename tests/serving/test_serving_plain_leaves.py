"""Plain leaves resolved without graphql-core's per-field machinery (serving.execution)
answer exactly as the ordinary executor does: every field of every type, for every
role (refusals included), and the odd values that must become errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import fields, replace
from enum import Enum, StrEnum
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import (
    GraphQLError,
    GraphQLFloat,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)
from strawberry.extensions import SchemaExtension

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.access import ROLES, access_of, type_grant
from fleetgraph.serving.access_guard import RoleAccess, field_refusal
from fleetgraph.serving.context import new_context
from fleetgraph.serving.execution import (
    FleetExecutionContext,
    _coercion,
    _Irregular,
    plain_leaf,
)
from fleetgraph.serving.guards import DEFAULT_LIMITS, Limits
from fleetgraph.serving.schema import build_schema
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.serving.conftest import NOW, FleetWriter
from tests.serving.every_field import EveryField, introspected
from tests.serving.test_serving_scalars import ARGUMENTS, ROOT_ARGUMENTS, build_fleet
from tests.serving.test_serving_scalars import probe_registry as registry_with_probe

LIFTED = replace(DEFAULT_LIMITS, **{f.name: 10**12 for f in fields(Limits)
                                    if f.name.startswith("max_")})
PLAIN = build_schema(limits=LIFTED)
ORDINARY = build_schema(limits=LIFTED, plain_leaves=False)


@pytest.fixture
def store() -> Iterator[SQLiteGraphStore]:
    store = SQLiteGraphStore(registry_with_probe(), ":memory:", clock=lambda: NOW)
    build_fleet(FleetWriter(store))
    yield store
    store.close()


def one_root(schema: GraphQLSchema, name: str) -> GraphQLSchema:
    """``schema`` with only root field ``name`` (to build a document asking only it)."""
    assert schema.query_type is not None
    query = GraphQLObjectType("Query", {name: schema.query_type.fields[name]})
    types = [t for t in schema.type_map.values()
             if t.name != "Query" and not t.name.startswith("__")]
    return GraphQLSchema(query=query, types=types)


def answer(schema: strawberry.Schema, store: SQLiteGraphStore, document: str,
           role: str) -> tuple[Any, list[dict[str, Any]]]:
    async def run() -> tuple[Any, list[dict[str, Any]]]:
        context = new_context(store, registry=store.registry, clock=lambda: NOW, role=role)
        result = await schema.execute(document, context_value=context)
        # in the order of their paths: sibling fields that wait on the store finish in
        # the order their reads do (a new kind of read runs in a thread)
        errors = sorted((e.formatted for e in result.errors or []), key=repr)
        return result.data, errors

    return asyncio.run(run())


CLIENT_SCHEMA = introspected(PLAIN)
ROOTS = sorted(CLIENT_SCHEMA.query_type.fields) if CLIENT_SCHEMA.query_type else []


@pytest.mark.parametrize("root", ROOTS)
def test_every_field_of_every_root_answers_as_the_ordinary_executor(
    store: SQLiteGraphStore, root: str,
) -> None:
    document = EveryField(one_root(CLIENT_SCHEMA, root), ARGUMENTS, ROOT_ARGUMENTS,
                          depth=3).document()
    for role in ROLES:  # ops reads all; the others meet refusals of types and fields
        plain = answer(PLAIN, store, document, role)
        assert plain == answer(ORDINARY, store, document, role), (root, role)
        if role == "ops":
            assert plain[0] is not None and not plain[1], plain[1]


def test_the_plain_check_refuses_exactly_what_the_field_hook_refuses() -> None:
    """For every role, every plain leaf of every object type, on a record of every node
    type: the check the shortcut asks (RoleAccess.plain_field_refusal) says what the
    field hook says (field_refusal, the ordinary way), refusals and messages alike.
    (The graph model gives no role a way to reach a node it may not read through a
    field it may follow, so no document meets such a refusal: it is checked here.)"""
    schema = PLAIN._schema
    refused = 0
    for role in ROLES:
        grant = type_grant(schema, access_of(role))
        hook = RoleAccess()
        hook.grant = grant
        for obj in schema.type_map.values():
            if not isinstance(obj, GraphQLObjectType) or obj.name.startswith("__"):
                continue
            for name, field_def in obj.fields.items():
                if plain_leaf(field_def) is None:
                    continue
                for node_type in sorted(FLEET.nodes):
                    source = SimpleNamespace(record=SimpleNamespace(type=node_type))
                    info = SimpleNamespace(parent_type=obj, field_name=name,
                                           return_type=field_def.type)
                    expected = field_refusal(grant, info, source, {})  # type: ignore[arg-type]
                    assert hook.plain_field_refusal(obj, name, field_def.type, source) \
                        == expected, (role, obj.name, name, node_type)
                    refused += expected is not None
    assert refused > 0  # the auditor may not read a server's fields


# --- the odd values, on a schema of their own -----------------------------------------

@strawberry.enum
class Level(Enum):
    LOW = "low"


@strawberry.enum
class Shade(StrEnum):  # its members are strings: a plain string is not a member
    DARK = "dark"


@strawberry.type
class Thing:
    name: str
    maybe: str | None
    count: int
    level: Level
    shade: Shade
    flag: bool
    tags: list[str]
    loose: list[str | None]

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def broken(self) -> int:
        raise ValueError("no count today")


ODD = Thing.__new__(Thing)  # values no type check would let through, as a bug might
ODD.__dict__.update(name=None, maybe=None, count="seven", level="nope", shade="dark", flag=1,
                    tags=["a", None], loose=["a", None])


def fine_thing(name: str = "x") -> Thing:
    return Thing(name=name, maybe=None, count=2**31 - 1, level=Level.LOW, shade=Shade.DARK,
                 flag=True, tags=["a"], loose=[None, "b"])


@strawberry.type
class OddQuery:
    @strawberry.field
    def thing(self) -> Thing:
        return ODD

    @strawberry.field
    def fine(self) -> Thing:
        return fine_thing()

    @strawberry.field
    def things(self) -> list[Thing]:  # completed in one loop (serving.execution)
        return [fine_thing("a"), fine_thing("b")]

    @strawberry.field
    def odd_things(self) -> list[Thing]:
        return [fine_thing("a"), ODD, fine_thing("b")]

    @strawberry.field
    def some_things(self) -> list[Thing | None]:
        return [None, fine_thing("a"), None]


class Judging(SchemaExtension):
    """A field hook refusing every field of the thing named "b", the ordinary way and
    by a plain rule judged source by source; counts the sources the rule judged."""

    judged = 0

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(root, Thing) and root.name == "b":
            raise ValueError(f"not {info.field_name} of b")
        return _next(root, info, *args, **kwargs)

    def plain_field_rule(self, parent_type: Any, field_name: str, return_type: Any) -> Any:
        if parent_type.name != "Thing":
            return None

        def refusal(source: Any) -> str | None:
            Judging.judged += 1
            return "b" if source.name == "b" else None

        return refusal


class Counting(SchemaExtension):
    """A field hook that cannot judge plain leaves: every field goes the ordinary way."""

    seen = 0

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        Counting.seen += 1
        return _next(root, info, *args, **kwargs)


def odd_answer(plain: bool, document: str, extensions: list[Any] | None = None
               ) -> tuple[Any, list[dict[str, Any]]]:
    schema = strawberry.Schema(query=OddQuery, extensions=extensions or [],
                               execution_context_class=FleetExecutionContext if plain else None)
    result = asyncio.run(schema.execute(document))
    return result.data, [e.formatted for e in result.errors or []]


@pytest.mark.parametrize("selection", [
    "name", "maybe", "count", "level", "shade", "flag", "tags", "loose", "shout", "broken",
    "name maybe count level shade flag tags loose shout broken", "maybe loose"])
def test_odd_values_fail_as_they_do_without_the_shortcut(selection: str) -> None:
    for root in ("thing", "fine", "things", "oddThings", "someThings"):
        document = f"{{ {root} {{ {selection} }} }}"
        assert odd_answer(True, document) == odd_answer(False, document), document


def test_good_values_are_served_and_a_field_hook_without_a_plain_check_sees_every_field(
) -> None:
    document = "{ fine { name maybe count level shade flag tags loose shout } }"
    expected = {"fine": {"name": "x", "maybe": None, "count": 2**31 - 1, "level": "LOW",
                         "shade": "DARK", "flag": True, "tags": ["a"], "loose": [None, "b"],
                         "shout": "X"}}
    assert odd_answer(True, document) == (expected, [])
    Counting.seen = 0
    assert odd_answer(True, document, [Counting]) == (expected, [])
    assert Counting.seen == 10  # fine and its nine fields


@pytest.mark.parametrize("root", ["fine", "things", "oddThings", "someThings"])
def test_a_rule_judged_source_by_source_refuses_as_the_field_hook(root: str) -> None:
    """A plain rule that judges each source sees every plain field of every object (in
    a list too) and refuses what the field hook refuses, errors and paths alike."""
    document = f"{{ {root} {{ name level tags shout }} }}"
    Judging.judged = 0
    plain = odd_answer(True, document, [Judging])
    assert plain == odd_answer(False, document, [Judging])
    if root != "oddThings":  # (its odd item sends the whole list the ordinary way)
        objects = {"fine": 1, "things": 2, "someThings": 1}[root]
        assert Judging.judged >= 4 * objects  # every field of every object judged
    if root == "things":
        assert plain[1] and all("of b" in e["message"] for e in plain[1]), plain


def test_what_is_plain() -> None:
    query = PLAIN._schema.query_type
    assert query is not None
    thing = PLAIN._schema.type_map["LineageEdge"]
    assert isinstance(thing, GraphQLObjectType)
    assert plain_leaf(thing.fields["fromId"]) is not None  # an attribute
    assert plain_leaf(thing.fields["from"]) is None  # async, reads the store
    assert plain_leaf(query.fields["node"]) is None  # arguments
    site = PLAIN._schema.type_map["Site"]
    assert isinstance(site, GraphQLObjectType)
    assert plain_leaf(site.fields["id"]) is not None  # a method of self alone
    assert plain_leaf(site.fields["racks"]) is None  # an object list


ODD_NUMBERS = [0, 7, -(2**31), 2**31 - 1, 2**31, -(2**31) - 1, 2**63, True, False, 3.0, 3.5,
               -0.0, 1e300, float("nan"), float("inf"), float("-inf"), "7", "7.5", None]


@pytest.mark.parametrize("leaf", [GraphQLInt, GraphQLFloat], ids=["Int", "Float"])
def test_numbers_are_coerced_as_graphql_core_coerces_them(leaf: GraphQLScalarType) -> None:
    """Int and Float pass their own values without graphql-core's calls (execution.
    _CHECKED): every value comes out as the scalar's own coercion gives it, of the same
    type, or is refused where it refuses."""
    same, coerce = _coercion(leaf)
    assert same is None
    for value in ODD_NUMBERS:
        try:
            expected = leaf.coerce_output_value(value)
        except GraphQLError:
            with pytest.raises((GraphQLError, _Irregular)):  # then the ordinary way
                coerce(value)
            continue
        got = coerce(value)
        assert got == expected and type(got) is type(expected), (leaf.name, value)


@pytest.mark.parametrize("selection", [
    "places { itemId siteId jobIds } violations { itemId siteId jobIds }",
    "places { a: itemId siteId } violations { siteId a: jurisdiction }",
    "violations { jobIds held } places { held jobIds __typename }",
    "places { itemId } violations { itemId site { id } }",
])
def test_a_place_asked_twice_answers_as_the_ordinary_executor(
    store: SQLiteGraphStore, selection: str,
) -> None:
    """A residency's violation is also one of its places (one object: completed once
    when the fields asked are the same, by selection and object): every selection of
    the two lists, aliases and orders included, answers as the ordinary executor."""
    document = (f'{{ dataResidency(datasetId: "dataset:d1", allowed: []) {{ {selection} }} '
                '}')
    for role in ROLES:
        plain = answer(PLAIN, store, document, role)
        assert plain == answer(ORDINARY, store, document, role), (selection, role)
    data = answer(PLAIN, store, document, "ops")[0]["dataResidency"]
    assert data["places"] and len(data["violations"]) == len(data["places"])
