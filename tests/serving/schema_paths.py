"""Every path of the schema from the root down to a bounded depth, as GraphQL documents.

A path starts at a root field called with sample arguments on the role fleet
(tests/serving/role_fleet.py) and follows object fields, one per level. A node
answer whose type is known (``node(id)`` of a node type) is followed into its class
through ``... on <Class>``; one whose type is not (``Job.inputs``) through the
fields of ``Node``. ``neighbours`` is asked for every edge type the node type has.
Every object selects ``__typename``, nodes also ``id`` and ``type``, edges ``type``:
an answer tells what it holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    is_non_null_type,
)

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.types.node import NODE_CLASSES

NODE_IDS = {
    "site": "site:s1", "rack": "rack:s1-r1", "cdu": "cdu:s1-c1",
    "power_shelf": "power_shelf:s1-p1", "server": "server:s1-r1-n1",
    "gpu": "gpu:s1-r1-n1-g0", "switch": "switch:s1-sw1", "instrument": "instrument:i1",
    "fault": "fault:cdu:s1-c1@20261121T030000Z", "application": "application:a1",
    "user": "user:u1", "job": "job:j1", "model": "model:m1",
    "artifact": "artifact:sha256-a2", "dataset": "dataset:d1",
}
CLASS_OF = {t: cls.__strawberry_definition__.name for t, cls in NODE_CLASSES.items()}


@dataclass(frozen=True)
class RootCall:
    field: str
    arguments: str = ""
    node_type: str | None = None  # the node type of a Node answer, when known
    edge_types: tuple[str, ...] = ()  # edge types the arguments walk


def _root_calls() -> list[RootCall]:
    calls = [RootCall("node", f'id: "{i}"', t) for t, i in NODE_IDS.items()]
    calls += [RootCall("nodes", f'type: "{t}", first: 3', t) for t in NODE_IDS]
    calls += [RootCall("searchNodes", f'type: "{t}", where: [], first: 3', t) for t in NODE_IDS]
    calls += [
        RootCall("traverse", 'start: "site:s1", steps: [{edgeType: "in_site", '
                 'direction: IN}, {edgeType: "in_rack", direction: IN}]', None,
                 ("in_site", "in_rack")),
        RootCall("traverse", 'start: "dataset:d1", steps: [{edgeType: "read", direction: IN}, '
                 '{edgeType: "produced"}]', "artifact", ("read", "produced")),
        RootCall("traverse", 'start: "model:m1", steps: [{edgeType: "used_model", '
                 'direction: IN}]', "job", ("used_model",)),
        RootCall("path", 'fromId: "job:j1", toId: "site:s1", edgeTypes: ["ran_on", '
                 '"in_rack", "in_site"]', None, ("ran_on", "in_rack", "in_site")),
        RootCall("path", 'fromId: "dataset:d1", toId: "artifact:sha256-a2", edgeTypes: '
                 '["read", "produced"]', None, ("read", "produced")),
        RootCall("modelHotness", 'modelId: "model:m1"'),
        RootCall("placement", 'request: {gpus: 1, datasetIds: ["dataset:d1"]}'),
        RootCall("affectedJobs", 'componentId: "cdu:s1-c1"'),
        RootCall("blastRadius", 'componentId: "cdu:s1-c1"'),
        RootCall("componentTimeline", 'componentId: "cdu:s1-c1"'),
        RootCall("lineage", 'id: "artifact:sha256-a2", direction: UP'),
        RootCall("lineage", 'id: "dataset:d1", direction: DOWN'),
        RootCall("dataResidency", 'datasetId: "dataset:d1", allowed: ["us"]'),
        RootCall("dataResidencySummary", 'datasetId: "dataset:d1", allowed: ["us"]'),
        RootCall("dataResidencySummary",
                 'datasetId: "dataset:d1", allowed: ["us"], violationsOnly: false, first: 2'),
        RootCall("auditBundle", 'subject: "dataset:d1", allowed: ["us"]'),
        RootCall("integrity"),
    ]
    return calls


ROOT_CALLS = _root_calls()


Owner = GraphQLObjectType | GraphQLInterfaceType
Keys = tuple[str, ...]  # answer keys from the root: a field of the tree


@dataclass(frozen=True)
class RootTree:
    """One root call with every path below it, ``depth`` fields deep, as one document."""

    call: RootCall
    document: str
    paths: int  # fields selected below the root, each the end of one path


class SchemaPaths:
    """The path trees of ``schema``, one per root call of ROOT_CALLS, ``depth[field]``
    fields below a root field (``default`` for the others)."""

    def __init__(self, schema: GraphQLSchema, depth: Mapping[str, int], default: int) -> None:
        assert schema.query_type is not None
        self.schema = schema
        self.query = schema.query_type
        self.depths = depth
        self.default = default
        self.depth = default

    def __iter__(self) -> Iterator[RootTree]:
        for call in ROOT_CALLS:
            yield self.tree(call)

    def tree(self, call: RootCall, pruned: frozenset[Keys] = frozenset()) -> RootTree:
        """The tree of ``call`` without the fields at ``pruned`` (answer keys from the
        root, list indices left out)."""
        self.depth = self.depths.get(call.field, self.default)
        text = f"{call.field}({call.arguments})" if call.arguments else call.field
        selection, paths = self._selection(self.query, call.field, call.node_type, 0,
                                           (call.field,), pruned)
        return RootTree(call, f"{{ {text} {selection} }}", paths)

    def _selection(self, owner: Owner, name: str, known: str | None, level: int,
                   keys: Keys, pruned: frozenset[Keys]) -> tuple[str, int]:
        """The selection set of field ``name`` of ``owner``, and the paths it holds."""
        named = get_named_type(owner.fields[name].type)
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            return "", 0
        below: Owner = named
        if isinstance(named, GraphQLInterfaceType) and known is not None:
            found = self.schema.get_type(CLASS_OF[known])
            assert isinstance(found, GraphQLObjectType)
            below = found
        fields: list[str] = []
        paths = 0
        if level < self.depth:
            node_type = next((t for t, c in CLASS_OF.items() if c == below.name), None)
            for field in below.fields:
                for alias, arguments in self._arguments(below, field, node_type):
                    if (*keys, alias) in pruned:
                        continue
                    inner, count = self._selection(
                        below, field, known if below is named else None, level + 1,
                        (*keys, alias), pruned)
                    if not inner:
                        continue
                    call = f"{alias}: {field}({arguments})" if arguments else field
                    fields.append(f"{call} {inner}")
                    paths += 1 + count
        extra = {"node": "id type", "edge": "type"}.get(self._kind(named), "")
        inner = " ".join(fields)
        if below is not named:
            inner = f"... on {below.name} {{ {inner} }}" if inner else ""
        return f"{{ __typename {extra} {inner} }}", paths

    @staticmethod
    def _kind(named: Owner) -> str:
        if isinstance(named, GraphQLInterfaceType) or any(
                i.name == "Node" for i in named.interfaces):
            return "node"
        return "edge" if named.name == "Edge" else "object"

    @staticmethod
    def _arguments(owner: Owner, name: str, node_type: str | None) -> list[tuple[str, str]]:
        """(alias, arguments) of each way to ask a field: ``neighbours`` once per edge
        type and direction of the node type (aliased ``neighbours_<edge type>_<way>``)."""
        definition = owner.fields[name]
        required = [a for a, arg in definition.args.items()
                    if is_non_null_type(arg.type) and arg.default_value is Undefined]
        if not required:
            return [(name, "")]
        assert name == "neighbours" and required == ["edgeType"], (
            f"{owner.name}.{name} needs arguments {required}: teach schema_paths.py them")
        if node_type is None:
            return []
        return [(f"{NEIGHBOURS}{e}_{way}", f'edgeType: "{e}", direction: {way}')
                for e, d in sorted(FLEET.edges.items())
                for way, types in (("OUT", d.from_types), ("IN", d.to_types))
                if node_type in types]


NEIGHBOURS = "neighbours_"


def neighbours_edge(key: str | int) -> str | None:
    """The edge type of a ``neighbours_<edge type>_<way>`` answer key (None for others)."""
    if not isinstance(key, str) or not key.startswith(NEIGHBOURS):
        return None
    return key[len(NEIGHBOURS):].rsplit("_", 1)[0]
