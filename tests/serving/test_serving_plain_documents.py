"""The big answers' item types (dataResidency's places, placement's candidates and
excluded sites with their reasons, modelHotness' sites and replicas) answer byte for
byte as the ordinary executor does for documents a client may send, not only the
plain ones the bench sends: random selections with aliases, a field asked twice,
inline and named fragments, @include/@skip on fields and fragments with variables,
__typename, nested lists, for every role (refusals included)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import strawberry
from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)

from fleetgraph.serving.access import ROLES
from fleetgraph.serving.context import new_context
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.serving.conftest import NOW, FleetWriter
from tests.serving.test_serving_plain_leaves import ORDINARY, PLAIN
from tests.serving.test_serving_scalars import ARGUMENTS, build_fleet
from tests.serving.test_serving_scalars import probe_registry as registry_with_probe

ROOTS = {
    "dataResidency": 'datasetId: "dataset:d1", allowed: ["us"]',
    "placement": f"request: {ARGUMENTS['request']}",
    "modelHotness": 'modelId: "model:m1"',
}
GRAPHQL = PLAIN._schema


@pytest.fixture(scope="module")
def store() -> Iterator[SQLiteGraphStore]:
    store = SQLiteGraphStore(registry_with_probe(), ":memory:", clock=lambda: NOW)
    build_fleet(FleetWriter(store))
    yield store
    store.close()


def _named(kind: GraphQLOutputType) -> GraphQLOutputType:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


@dataclass
class Document:
    """A random document over one root: its selections and named fragments."""

    rng: random.Random
    fragments: list[str] = field(default_factory=list)
    aliases: int = 0

    def directive(self) -> str:
        return self.rng.choice(["", "", "", " @include(if: $yes)", " @skip(if: $no)",
                                " @include(if: $no)", " @skip(if: $yes)",
                                " @include(if: true)", " @skip(if: false)"])

    def arguments(self, name: str, obj: GraphQLObjectType | GraphQLInterfaceType
                  ) -> str | None:
        """The field's arguments: its required ones from ARGUMENTS, sometimes a small
        ``first``; None when a required one is unknown."""
        given = []
        for arg_name, arg in obj.fields[name].args.items():
            if isinstance(arg.type, GraphQLNonNull):
                if arg_name not in ARGUMENTS:
                    return None
                given.append(f"{arg_name}: {ARGUMENTS[arg_name]}")
            elif arg_name == "first" and self.rng.random() < 0.5:
                given.append(f"first: {self.rng.randint(0, 3)}")
        return f"({', '.join(given)})" if given else ""

    def selection(self, obj: GraphQLObjectType | GraphQLInterfaceType, depth: int) -> str:
        names = [n for n in obj.fields if self.arguments(n, obj) is not None
                 and (depth > 0 or is_leaf_type(_named(obj.fields[n].type)))]
        picked = self.rng.sample(names, self.rng.randint(1, min(len(names), 10)))
        parts = [self.field(obj, name, depth) for name in picked]
        if self.rng.random() < 0.3:
            parts.append("__typename" + self.directive())
        if self.rng.random() < 0.3:  # a field asked twice (merged), maybe under an alias
            parts.append(self.field(obj, self.rng.choice(picked), depth))
        self.rng.shuffle(parts)
        grouped: list[str] = []
        while parts:
            take = self.rng.randint(1, len(parts))
            chunk, parts = " ".join(parts[:take]), parts[take:]
            kind = self.rng.random()
            if kind < 0.2:
                grouped.append(f"... on {obj.name}{self.directive()} {{ {chunk} }}")
            elif kind < 0.3:
                grouped.append(f"...{self.directive()} {{ {chunk} }}")
            elif kind < 0.45:
                name = f"F{len(self.fragments)}"
                self.fragments.append(f"fragment {name} on {obj.name} {{ {chunk} }}")
                grouped.append(f"...{name}{self.directive()}")
            else:
                grouped.append(chunk)
        return " ".join(grouped)

    def field(self, obj: GraphQLObjectType | GraphQLInterfaceType, name: str,
              depth: int) -> str:
        alias = ""
        if self.rng.random() < 0.3:
            self.aliases += 1
            alias = f"a{self.aliases}: "
        text = f"{alias}{name}{self.arguments(name, obj)}{self.directive()}"
        inner = _named(obj.fields[name].type)
        if isinstance(inner, GraphQLObjectType | GraphQLInterfaceType):
            text += f" {{ {self.selection(inner, depth - 1)} }}"
        elif not is_leaf_type(inner):  # a union
            text += " { __typename }"
        return text


def document(seed: int, root: str) -> str:
    rng = random.Random(seed)
    doc = Document(rng)
    assert GRAPHQL.query_type is not None
    kind = _named(GRAPHQL.query_type.fields[root].type)
    assert isinstance(kind, GraphQLObjectType)
    body = doc.selection(kind, depth=3)
    alias = "r: " if rng.random() < 0.3 else ""
    used = "\n".join([body, *doc.fragments])
    declared = ", ".join(f"${name}: Boolean!" for name in ("yes", "no") if f"${name}" in used)
    return "\n".join([f"query{f'({declared})' if declared else ''} "
                      f"{{ {alias}{root}({ROOTS[root]}) {{ {body} }} }}", *doc.fragments])


def _bytes(store: SQLiteGraphStore, schema: strawberry.Schema, text: str, role: str,
           yes: bool) -> str:
    """The answer as the server sends it (JSON, keys in the answer's order)."""
    async def run() -> str:
        context = new_context(store, registry=store.registry, clock=lambda: NOW, role=role)
        result = await schema.execute(text, variable_values={"yes": yes, "no": not yes},
                                      context_value=context)
        errors = sorted((e.formatted for e in result.errors or []), key=repr)
        return json.dumps({"data": result.data, "errors": errors})

    return asyncio.run(run())


@pytest.mark.parametrize("root", sorted(ROOTS))
@pytest.mark.parametrize("seed", range(25))
def test_random_documents_answer_as_the_ordinary_executor(
    store: SQLiteGraphStore, root: str, seed: int,
) -> None:
    text = document(seed, root)
    answered = 0
    for role in ROLES:
        for yes in (True, False):
            plain = _bytes(store, PLAIN, text, role, yes)
            assert plain == _bytes(store, ORDINARY, text, role, yes), (text, role, yes)
            answered += '"data": null' not in plain
    assert answered, text  # the document is valid and some role reads the root
