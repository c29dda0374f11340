"""Every path of the schema, for every role: what a role gets is what the matrix grants.

The schema is walked from each root field (with sample arguments on the role fleet)
down every object field (tests/serving/schema_paths.py: node answers 2 fields deep,
the other answers 3), one document per root call. Each is run as ops (everything)
and as each other role, and the role's answer must be the ops answer with only
refused parts cut:

- no leak: every object in it is of a type the role reads (a node of its node types,
  an Edge of its edge types, any other object of its grant), and every node under a
  node is linked to it by an edge type the role reads or named by its properties;
- no silent null: every value the role lacks is under a FORBIDDEN error, and it gets
  no error ops did not get but FORBIDDEN;
- no needless refusal: a FORBIDDEN error stands where the ops answer holds something
  the role may not read (or where the arguments ask for a node or edge type it may
  not read).

The guards' limits are lifted here: a document holds hundreds of paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from graphql import GraphQLError
from strawberry.types import ExecutionResult

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.access import ROLES, Access, TypeGrant, access_of, type_grant
from fleetgraph.serving.context import new_context
from fleetgraph.serving.guards import Limits
from fleetgraph.serving.schema import build_schema
from fleetgraph.storage.base import Direction, GraphStore
from tests.serving.conftest import NOW
from tests.serving.role_fleet import role_fleet_store
from tests.serving.schema_paths import (
    CLASS_OF,
    NODE_IDS,
    ROOT_CALLS,
    RootTree,
    SchemaPaths,
    neighbours_edge,
)

SCHEMA = build_schema(limits=Limits(max_depth=64, max_aliases=10**6, max_tokens=10**6,
                                    max_cost=10**12))
PATHS = SchemaPaths(SCHEMA._schema, {"node": 2, "nodes": 2, "searchNodes": 2}, 3)
TREES = list(PATHS)
# graphql-core cancels the siblings of a failed field, so one answer shows only some of
# the refusals of a tree: the walk drops those seen and asks again, a few rounds.
ROUNDS = 3
NODE_CLASSES = frozenset(CLASS_OF.values()) | {"GenericNode"}
Position = tuple[str | int, ...]


@pytest.fixture(scope="module")
def role_fleet() -> Iterator[GraphStore]:
    with role_fleet_store() as store:
        yield store


def test_every_root_field_and_node_type_is_walked() -> None:
    query = SCHEMA._schema.query_type
    assert query is not None
    assert {c.field for c in ROOT_CALLS} == set(query.fields)
    assert NODE_IDS.keys() == FLEET.nodes.keys()
    assert sum(t.paths for t in TREES) > 1000


@dataclass
class Judge:
    """Judges one role's answers against the ops answers."""

    grant: TypeGrant
    store: GraphStore
    links: dict[tuple[str, str], bool] = field(default_factory=dict)

    @property
    def access(self) -> Access:
        return self.grant.access

    def unreadable(self, value: dict[str, Any]) -> str | None:
        """Why the role may not read this object (None: it may)."""
        typename = value.get("__typename")
        if typename is None:  # the root of an answer
            return None
        if typename in NODE_CLASSES:
            ok = self.access.reads_node(value.get("type", "?"))
        elif typename == "Edge":
            ok = self.access.reads_edge(value.get("type", "?"))
        else:
            ok = typename in self.grant.readable
        return None if ok else f"{typename} {value.get('type', '')}"

    def linked(self, parent: str, child: str) -> bool:
        """Whether ``child`` is linked to ``parent`` by an edge type the role reads, or
        named by one of its properties."""
        key = (parent, child)
        if key not in self.links:
            record = self.store.get_nodes([parent]).get(parent)
            named = record is not None and child in map(str, record.props.values())
            self.links[key] = named or any(
                any(e.other(parent) == child for e in self.store.neighbours(
                    edge_type, [parent], way).get(parent, []))
                for edge_type in self.access.edge_types for way in Direction)
        return self.links[key]

    def violations(self, value: Any, parent: str | None = None, deep: bool = True) -> list[str]:
        """What the role may not read in an answer (a value and, when ``deep``, below)."""
        if isinstance(value, list):
            return [v for item in value for v in self.violations(item, parent, deep)]
        if not isinstance(value, dict):
            return []
        found = []
        why = self.unreadable(value)
        if why is not None:
            found.append(why)
        node = value.get("id") if value.get("__typename") in NODE_CLASSES else None
        if node is not None and parent is not None and not self.linked(parent, node):
            found.append(f"{parent} -> {node}")
        if deep:
            for inner in value.values():
                found += self.violations(inner, node, deep)
        return found

    def justified(self, ops: Any, position: Position) -> bool:
        """Whether a refused field holds, in the ops answer, something the role may not
        read: its parent object, its answer (not below), the link between them, or the
        edge type asked of ``neighbours``. An empty answer shows nothing to judge by."""
        parent: Any = ops
        for step in position[:-1]:
            parent = parent[step]
        answer = parent.get(position[-1]) if isinstance(parent, dict) else None
        asked = neighbours_edge(position[-1])
        if answer in (None, []) or (asked is not None and not self.access.reads_edge(asked)):
            return True
        node = parent.get("id") if parent.get("__typename") in NODE_CLASSES else None
        return bool(self.violations(parent, deep=False)
                    or self.violations(answer, node, deep=False))


def cut(ops: Any, mine: Any, position: Position = ()) -> Iterator[tuple[Position, str]]:
    """Where the role's answer is not the ops answer with parts set to null (or left
    out of its document): (position, "null") where a value was cut, (position,
    "differs") where it differs."""
    if mine is None and ops is not None:
        yield position, "null"
    elif isinstance(ops, dict) and isinstance(mine, dict) and mine.keys() <= ops.keys():
        for key in mine:
            yield from cut(ops[key], mine[key], (*position, key))
    elif isinstance(ops, list) and isinstance(mine, list) and len(ops) == len(mine):
        for index, (a, b) in enumerate(zip(ops, mine, strict=True)):
            yield from cut(a, b, (*position, index))
    elif ops != mine:
        yield position, "differs"


def code(error: GraphQLError) -> str:
    return str((error.extensions or {}).get("code"))


def judge(tree: RootTree, judge: Judge, ops: ExecutionResult,
          mine: ExecutionResult) -> Iterator[str]:
    """The problems of one role's answer to one tree."""
    role = judge.access.role
    errors = mine.errors or []
    if any(code(e) != "FORBIDDEN" for e in errors):
        yield f"{role} got other errors than FORBIDDEN: {errors[:3]}"
    if not judge.access.reads_root(tree.call.field):
        if mine.data is not None or not errors:
            yield f"{role} was not refused {tree.call.field}"
        return
    yield from (f"{role} read {v}" for v in judge.violations(mine.data))
    forbidden = [tuple(e.path or ()) for e in errors]
    for position, how in cut(ops.data, mine.data):
        if how == "differs":
            yield f"{role} got other data than ops at {position}"
        elif not any(p[: len(position)] == position for p in forbidden):
            yield f"{role} got a silent null at {position}"
    asks_denied = any(not judge.access.reads_edge(e) for e in tree.call.edge_types) or (
        tree.call.node_type is not None and not judge.access.reads_node(tree.call.node_type))
    for position in forbidden:
        if len(position) == 1 and asks_denied:
            continue
        if not judge.justified(ops.data, position):
            yield f"{role} was refused {position}, which it may read"


def objects(value: Any) -> int:
    """How many objects an answer holds."""
    if isinstance(value, list):
        return sum(objects(v) for v in value)
    if isinstance(value, dict):
        return ("__typename" in value) + sum(objects(v) for v in value.values())
    return 0


async def _answer(store: GraphStore, document: str, role: str) -> ExecutionResult:
    return await SCHEMA.execute(
        document, context_value=new_context(store, clock=lambda: NOW, role=role))


def keys(position: Position) -> tuple[str, ...]:
    return tuple(k for k in position if isinstance(k, str))


@dataclass
class Walk:
    """One role's walk of one tree: refused fields are left out of the document, round
    after round, until what is left is answered whole (or ROUNDS are done)."""

    tree: RootTree
    judge: Judge
    ops: ExecutionResult
    problems: list[str] = field(default_factory=list)
    refused: set[tuple[str, ...]] = field(default_factory=set)
    objects: int = 0

    def run(self, store: GraphStore) -> None:
        tree = self.tree
        for _ in range(ROUNDS):
            mine = asyncio.run(_answer(store, tree.document, self.judge.access.role))
            self.problems += [f"{tree.call.field}({tree.call.arguments}): {p}"
                              for p in judge(tree, self.judge, self.ops, mine)]
            self.refused |= {keys(tuple(e.path or ())) for e in mine.errors or ()}
            self.objects = objects(mine.data)
            if not mine.errors or any(len(k) <= 1 for k in self.refused):  # done, or all refused
                return
            tree = PATHS.tree(tree.call, frozenset(self.refused))


def test_every_path_gives_a_role_what_it_reads_and_refuses_the_rest(
    role_fleet: GraphStore,
) -> None:
    judges = {r: Judge(type_grant(SCHEMA._schema, access_of(r)), role_fleet) for r in ROLES}
    problems: list[str] = []
    refused = {r: 0 for r in ROLES}
    read = {r: 0 for r in ROLES}
    asked = {r: 0 for r in ROLES}  # objects of the trees whose root call the role may ask
    for tree in TREES:
        ops = asyncio.run(_answer(role_fleet, tree.document, "ops"))
        assert ops.errors is None and ops.data is not None, (tree.call, ops.errors)
        read["ops"] += objects(ops.data)
        for role in ("scheduler", "auditor"):
            access = judges[role].access
            if access.reads_root(tree.call.field) and (
                    tree.call.node_type is None or access.reads_node(tree.call.node_type)):
                asked[role] += objects(ops.data)
            walk = Walk(tree, judges[role], ops)
            walk.run(role_fleet)
            problems += walk.problems
            refused[role] += len(walk.refused)
            read[role] += walk.objects
    assert not problems, "\n".join(problems[:30])
    for role in ("scheduler", "auditor"):  # neither everything nor nothing
        assert refused[role] > 20 and read[role] > asked[role] // 10, (role, refused, read, asked)


@pytest.mark.parametrize("role", ROLES)
def test_the_judge_sees_a_leak(role_fleet: GraphStore, role: str) -> None:
    """The oracle is not blind: an answer holding a rack under a site, or a lineage
    edge, is a leak for the auditor and the scheduler respectively."""
    judge_ = Judge(type_grant(SCHEMA._schema, access_of(role)), role_fleet)
    rack = {"__typename": "Site", "id": "site:s1", "type": "site", "racks": [
        {"__typename": "Rack", "id": "rack:s1-r1", "type": "rack"}]}
    inputs = {"__typename": "Job", "id": "job:j1", "type": "job", "inputs": [
        {"__typename": "Dataset", "id": "dataset:d1", "type": "dataset"}]}
    assert bool(judge_.violations(rack)) == (role == "auditor")
    assert bool(judge_.violations(inputs)) == (role == "scheduler")
