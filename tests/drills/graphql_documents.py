"""Seeded generator of GraphQL requests for the fuzz drill: valid and invalid.

Valid requests are built from the schema: root fields with arguments (literals
or variables, some out of range), nested selections, aliases, inline
fragments on interfaces, named fragments, ``@include``/``@skip``. Hostile ones
have fragment cycles and DAGs, deep nesting, repeated fields, many aliases or
operations; broken ones are valid documents with a span cut, repeated or
replaced by stray tokens. The same seed gives the same requests.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)
from graphql.pyutils import Undefined

STRAY = ["{", "}", "(", ")", "...", "@", "$", ":", "!", "[", "]", "fragment", "on", "query",
         '"', '"""', "#", "\\u0000", "\u00e9", "\U0001f4a5", "1e999", "-", "=", "&", "|"]
JUNK_STRINGS = ["", " ", "x" * 300, "site:s0001\n", "\U0001f4a5", "a\u0000b", "../../etc",
                "' OR 1=1 --", "2026-13-45T99:99:99Z", "null"]
INTS = [0, 1, 2, 5, 10, 50, 1000, -1, 2**31 - 1, 2**31, 10**15]


@dataclass
class Request:
    """One generated request: the document, its variables and operation, how sent."""

    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    operation_name: str | None = None
    kind: str = "valid"
    token: str = "ops-token"
    get: bool = False

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"query": self.query}
        if self.variables:
            body["variables"] = self.variables
        if self.operation_name is not None:
            body["operationName"] = self.operation_name
        return body

    def params(self) -> dict[str, str]:
        return {key: value if isinstance(value, str) else json.dumps(value)
                for key, value in self.payload().items()}


class _Operation:
    """The variables and fragments one operation collects while it is written."""

    def __init__(self) -> None:
        self.definitions: list[str] = []
        self.values: dict[str, Any] = {}
        self.fragments: list[str] = []

    def variable(self, type_: GraphQLInputType, value: Any) -> str:
        name = f"v{len(self.definitions)}"
        self.definitions.append(f"${name}: {type_}")
        self.values[name] = value
        return f"${name}"


class DocumentFuzzer:
    def __init__(self, schema: GraphQLSchema, ids: Sequence[str], seed: int) -> None:
        self.schema = schema
        self.ids = list(ids) or ["site:s0001"]
        self.rng = random.Random(seed)
        self.kinds: list[tuple[int, Callable[[], Request]]] = [
            (45, self.valid), (15, self.broken), (6, self.cycle), (6, self.dag),
            (6, self.deep), (5, self.repeated), (4, self.aliases), (3, self.operations),
            (4, self.unknown), (6, self.other_role),
        ]

    def requests(self, count: int) -> list[Request]:
        weights = [weight for weight, _ in self.kinds]
        makers = self.rng.choices([make for _, make in self.kinds], weights, k=count)
        requests = [make() for make in makers]
        for request in requests:
            request.get = self.rng.random() < 0.1
        return requests

    # valid documents, from the schema

    def valid(self) -> Request:
        query_type = self.schema.query_type
        assert query_type is not None
        operation = _Operation()
        fields = self.rng.sample(sorted(query_type.fields), k=self.rng.randint(1, 2))
        body = " ".join(self._field(query_type, name, operation, depth=0) for name in fields)
        header = "query"
        name = None
        if operation.definitions or self.rng.random() < 0.3:
            name = f"Q{self.rng.randint(0, 99)}"
            header = f"query {name}"
            if operation.definitions:
                header += f"({', '.join(operation.definitions)})"
        document = f"{header} {{ {body} }} " + " ".join(operation.fragments)
        use_name = name if name is not None and self.rng.random() < 0.5 else None
        return Request(document, operation.values, use_name)

    def _field(self, parent: GraphQLObjectType | GraphQLInterfaceType, name: str,
               operation: _Operation, depth: int) -> str:
        definition = parent.fields[name]
        text = name
        if self.rng.random() < 0.15:
            text = f"a{self.rng.randint(0, 999)}: {name}"
        arguments = []
        for argument_name, argument in definition.args.items():
            required = (isinstance(argument.type, GraphQLNonNull)
                        and argument.default_value is Undefined)
            if required or self.rng.random() < 0.3:
                arguments.append(f"{argument_name}: {self._argument(argument.type, operation)}")
        if arguments:
            text += f"({', '.join(arguments)})"
        if self.rng.random() < 0.08:
            text += self.rng.choice([" @include(if: true)", " @skip(if: false)",
                                     " @skip(if: true)", " @deprecated"])
        named = get_named_type(definition.type)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
            text += f" {{ {self._selection(named, operation, depth + 1)} }}"
        return text

    def _selection(self, type_: GraphQLNamedType, operation: _Operation, depth: int) -> str:
        parts: list[str] = []
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            leaves = [n for n, f in type_.fields.items()
                      if isinstance(get_named_type(f.type), GraphQLScalarType | GraphQLEnumType)
                      and not any(isinstance(a.type, GraphQLNonNull) for a in f.args.values())]
            nested = [n for n in type_.fields if n not in leaves]
            parts += self.rng.sample(leaves, k=min(len(leaves), self.rng.randint(1, 3)))
            if depth < 4 and nested and self.rng.random() < 0.6:
                for name in self.rng.sample(nested, k=min(len(nested), self.rng.randint(1, 2))):
                    parts.append(self._field(type_, name, operation, depth))
        if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType) and self.rng.random() < 0.6:
            possible = self.schema.get_possible_types(type_)
            concrete = self.rng.choice(possible)
            inner = self._selection(concrete, operation, depth + 1)
            parts.append(f"... on {concrete.name} {{ {inner} }}")
        if not parts:
            parts.append("__typename")
        if self.rng.random() < 0.15:
            fragment = f"F{len(operation.fragments)}x{self.rng.randint(0, 999)}"
            operation.fragments.append(f"fragment {fragment} on {type_.name} "
                                       f"{{ {' '.join(parts)} }}")
            return f"...{fragment}"
        return " ".join(parts)

    def _argument(self, type_: GraphQLInputType, operation: _Operation) -> str:
        value = self._value(type_)
        if self.rng.random() < 0.3:
            if self.rng.random() < 0.1:  # a variable of the wrong type
                value = self.rng.choice([None, "oops", 12, [1], {"a": 1}])
            return operation.variable(type_, value)
        return _literal(value, type_)

    def _value(self, type_: GraphQLInputType, depth: int = 0) -> Any:
        nullable = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(nullable, GraphQLList):
            return [self._value(nullable.of_type, depth + 1) for _ in range(self.rng.randint(0, 3))]
        if isinstance(nullable, GraphQLInputObjectType):
            return {name: self._value(f.type, depth + 1) for name, f in nullable.fields.items()
                    if isinstance(f.type, GraphQLNonNull)
                    or (depth < 2 and self.rng.random() < 0.3)}
        if isinstance(nullable, GraphQLEnumType):
            return _Enum(self.rng.choice([*nullable.values, "NOT_A_VALUE"]))
        name = nullable.name if isinstance(nullable, GraphQLScalarType) else ""
        if name in ("Int", "Long"):
            return self.rng.choice(INTS)
        if name == "Float":
            return self.rng.choice([0.0, 0.5, 1.0, -3.5, 1e300])
        if name == "Boolean":
            return self.rng.random() < 0.5
        if name == "DateTime":
            return self.rng.choice(["2026-11-21T00:00:00Z", "2020-01-01T00:00:00+00:00",
                                    "not a time", "9999-12-31T23:59:59Z"])
        if name == "JSON":
            return {"k": [1, "two", None]}
        if self.rng.random() < 0.75:
            return self.rng.choice([*self.ids, "site", "rack", "server", "in_site", "cooled_by"])
        return self.rng.choice(JUNK_STRINGS)

    # invalid and hostile documents

    def broken(self) -> Request:
        request = self.valid()
        text = request.query
        start = self.rng.randrange(len(text))
        end = min(len(text), start + self.rng.randint(1, 12))
        request.query = self.rng.choice([
            text[:start] + text[end:],
            text[:end] + text[start:],
            text[:start] + self.rng.choice(STRAY) + text[start:],
            text[:start],
        ])
        request.kind = "broken"
        return request

    def cycle(self) -> Request:
        length = self.rng.randint(1, 4)
        names = [f"C{i}" for i in range(length)]
        fragments = " ".join(
            f"fragment {name} on Query {{ __typename ...{names[(i + 1) % length]} "
            f"...{names[(i + 1) % length]} }}" for i, name in enumerate(names))
        return Request(f"query {{ ...C0 }} {fragments}", kind="cycle")

    def dag(self) -> Request:
        levels = self.rng.randint(3, 30)
        leaf = self.rng.choice(["__typename", 'node(id: "site:s0001") { id }', "a: __typename"])
        fragments = " ".join(f"fragment D{i} on Query {{ ...D{i + 1} ...D{i + 1} }}"
                             for i in range(levels))
        return Request(f"query {{ ...D0 }} {fragments} fragment D{levels} on Query {{ {leaf} }}",
                       kind="dag")

    def deep(self) -> Request:
        levels = self.rng.randint(2, 40)
        nested = "... on Site { racks { site { " * levels + "id" + " } } }" * levels
        return Request(f'{{ node(id: "site:s0001") {{ {nested} }} }}', kind="deep")

    def repeated(self) -> Request:
        copies = self.rng.choice([10, 100, 400, 1000])
        field_text = self.rng.choice(['node(id: "site:s0001") { id }', "__typename",
                                      'nodes(type: "site", first: 1) { endCursor }'])
        return Request("{ " + " ".join([field_text] * copies) + " }", kind="repeated")

    def aliases(self) -> Request:
        count = self.rng.choice([5, 32, 33, 200])
        body = " ".join(f'n{i}: node(id: "{self.rng.choice(self.ids)}") {{ id type }}'
                        for i in range(count))
        return Request("{ " + body + " }", kind="aliases")

    def operations(self) -> Request:
        count = self.rng.choice([2, 10, 11, 300])
        body = " ".join(f"query O{i} {{ __typename }}" for i in range(count))
        return Request(body, operation_name=self.rng.choice(["O0", "O1", "missing", None]),
                       kind="operations")

    def unknown(self) -> Request:
        return Request(self.rng.choice([
            "{ nope }", "query { ...Missing }", "mutation { x }", "subscription { y }",
            '{ node(id: "site:s0001") { ... on NotAType { id } } }',
            "query($x: Int) { __typename }", "{ __typename @nope }",
            '{ node(id: $undeclared) { id } }', "fragment F on Query { __typename }",
            "{ __schema { types { name } } }",
        ]), kind="unknown")

    def other_role(self) -> Request:
        request = self.valid()
        request.token = self.rng.choice(["sched-token", "audit-token"])
        request.kind = "role"
        return request


class _Enum(str):
    """An enum value: written bare in a literal, as a string in variables."""


def _literal(value: Any, type_: GraphQLInputType | GraphQLOutputType | None = None) -> str:
    if isinstance(value, _Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
