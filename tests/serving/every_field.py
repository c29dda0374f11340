"""Documents that select every field of a schema, built from its introspection.

From each root field, every leaf field (scalar or enum) of every object type is
selected, and object fields are followed down to ``depth`` levels, never into a
type already on the path (so the document stays finite). Abstract types get an
inline fragment per possible type, its fields aliased ``<field>_<type>``. Every
object selects ``__typename``, so an answer tells which fields of which type were
resolved (``resolved``).

Fields with required arguments take them from ``arguments`` (by argument name,
as GraphQL literals); a root field may be asked several times with different
arguments (``root_arguments``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    build_client_schema,
    get_introspection_query,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from strawberry import Schema

Leaf = tuple[str, str]  # (object type, field)


def introspected(schema: Schema) -> GraphQLSchema:
    """The schema as a client sees it through an introspection query."""
    result = asyncio.run(schema.execute(get_introspection_query()))
    assert result.errors is None and result.data is not None, result.errors
    return build_client_schema(result.data)


def object_types(schema: GraphQLSchema, named: GraphQLNamedType) -> list[GraphQLObjectType]:
    if is_abstract_type(named):
        return list(schema.get_possible_types(named))  # type: ignore[arg-type]
    return [named] if is_object_type(named) else []  # type: ignore[list-item]


def reachable_leaves(schema: GraphQLSchema) -> set[Leaf]:
    """Every leaf field of every object type reachable from the query root."""
    assert schema.query_type is not None
    seen: set[str] = set()
    todo = [schema.query_type]
    leaves: set[Leaf] = set()
    while todo:
        obj = todo.pop()
        if obj.name in seen:
            continue
        seen.add(obj.name)
        for name, definition in obj.fields.items():
            named = get_named_type(definition.type)
            if is_leaf_type(named):
                leaves.add((obj.name, name))
            todo += object_types(schema, named)
    return leaves - {(schema.query_type.name, n) for n in schema.query_type.fields}


@dataclass(frozen=True)
class Documents:
    schema: GraphQLSchema
    arguments: Mapping[str, str]
    root_arguments: Mapping[str, Sequence[Mapping[str, str]]]
    depth: int

    def __iter__(self) -> Iterator[str]:
        """One document per root field and set of arguments."""
        root = self.schema.query_type
        assert root is not None
        for name, definition in root.fields.items():
            for given in self.root_arguments.get(name, [{}]):
                field = self._field(name, definition, frozenset({root.name}), self.depth, given)
                yield "{ " + field + " }"

    def _args(self, name: str, definition: GraphQLField, given: Mapping[str, str]) -> str:
        values = dict(given)
        for arg_name, arg in definition.args.items():
            if arg_name in values or not is_non_null_type(arg.type) or arg.default is not None:
                continue
            if arg_name not in self.arguments:
                raise AssertionError(f"give a value for argument {arg_name!r} of {name!r}")
            values[arg_name] = self.arguments[arg_name]
        return "(" + ", ".join(f"{k}: {v}" for k, v in values.items()) + ")" if values else ""

    def _field(
        self, name: str, definition: GraphQLField, path: frozenset[str], depth: int,
        given: Mapping[str, str] | None = None,
    ) -> str:
        head = name + self._args(name, definition, given or {})
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return head
        abstract = is_abstract_type(named)
        fragments = [
            f"... on {obj.name} {{ "
            f"{self._selection(obj, path | {named.name}, depth - 1, abstract)} }}"
            for obj in object_types(self.schema, named)
            if obj.name not in path
        ]
        return head + " { __typename " + " ".join(fragments) + " }"

    def _selection(
        self, obj: GraphQLObjectType, path: frozenset[str], depth: int, aliased: bool
    ) -> str:
        """The fields of ``obj``; in a fragment of an abstract type each is aliased
        ``<field>_<type>``, as two types may have a field of one name and two types."""
        path = path | {obj.name}
        chosen = []
        for name, definition in obj.fields.items():
            named = get_named_type(definition.type)
            if is_leaf_type(named) or (depth > 0 and named.name not in path):
                alias = f"{name}_{obj.name}: " if aliased else ""
                chosen.append(alias + self._field(name, definition, path, depth))
        return " ".join(chosen)


def resolved(answer: Any, found: dict[Leaf, list[Any]] | None = None) -> dict[Leaf, list[Any]]:
    """The values of leaf fields in an answer, by (object type, field)."""
    found = {} if found is None else found
    if isinstance(answer, list):
        for item in answer:
            resolved(item, found)
    elif isinstance(answer, dict):
        typename = answer.get("__typename")
        for key, value in answer.items():
            if typename is not None and key != "__typename":
                field = key.partition("_")[0]  # without the alias' type
                found.setdefault((typename, field), []).append(value)
            resolved(value, found)
    return found
