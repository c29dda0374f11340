"""A document that selects every field of a schema, built from its introspection.

From each root field, every leaf field (scalar or enum) of every object type is
selected, and object fields are followed down to ``depth`` levels. Each type's
selection at each depth is one named fragment, spread wherever the type can be
(an abstract type spreads one per possible type), so a document grows with
types x depth, not exponentially. Every object selects ``__typename``, so an
answer tells which fields of which type were resolved (``resolved``).

Fields with required arguments take them from ``arguments`` (by argument name,
as GraphQL literals); a root field may be asked several times with different
arguments (``root_arguments``), each under its own alias.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
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
class EveryField:
    schema: GraphQLSchema
    arguments: Mapping[str, str]
    root_arguments: Mapping[str, Sequence[Mapping[str, str]]]
    depth: int

    def document(self) -> str:
        """Each root field once per set of arguments (aliased ``<field>_<n>``), then
        the fragments they spread."""
        root = self.schema.query_type
        assert root is not None
        fragments: dict[str, str] = {}
        fields = [
            f"{name}_{n}: " + self._field(name, definition, self.depth, fragments, given)
            for name, definition in root.fields.items()
            for n, given in enumerate(self.root_arguments.get(name, [{}]))
        ]
        return "\n".join(["{", *fields, "}", *fragments.values()])

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
        self, name: str, definition: GraphQLField, depth: int, fragments: dict[str, str],
        given: Mapping[str, str] | None = None,
    ) -> str:
        head = name + self._args(name, definition, given or {})
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return head
        spreads = [
            "..." + self._fragment(obj, depth - 1, fragments)
            for obj in object_types(self.schema, named)
        ]
        return head + " { __typename " + " ".join(spreads) + " }"

    def _fragment(self, obj: GraphQLObjectType, depth: int, fragments: dict[str, str]) -> str:
        """The name of the fragment selecting ``obj``'s fields ``depth`` levels down,
        defined once per document. Each field is aliased ``<field>_<type>``: fragments
        of two types spread side by side may have a field of one name and two types."""
        name = f"{obj.name}_{depth}"
        if name not in fragments:
            fragments[name] = ""  # its place: the fragments it spreads come after it
            chosen = [
                f"{field}_{obj.name}: " + self._field(field, definition, depth, fragments)
                for field, definition in obj.fields.items()
                if depth > 0 or is_leaf_type(get_named_type(definition.type))
            ]
            fragments[name] = f"fragment {name} on {obj.name} {{ {' '.join(chosen)} }}"
        return name


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
                field = key.partition("_")[0]  # the alias less its type (names are camelCase)
                found.setdefault((typename, field), []).append(value)
            resolved(value, found)
    return found
