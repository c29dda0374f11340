"""Who may read what: the role matrix, declared once.

Three roles (docs/queries.md, "Roles"): ``ops`` reads everything; the placement
``scheduler`` reads topology, live state, health and where models are hot, not the
lineage of data; the compliance ``auditor`` reads lineage, residency, jobs and where
they ran, and provenance, not the hardware inside sites.

A role reads:

- the root fields of ``ROOT_FIELDS`` naming it (every root field must be there:
  a test fails on one that is not, and the server refuses it to every role but ops);
- the edge types of its ``EDGE_GROUPS`` (every edge type of the graph model is in
  exactly one group);
- the node types at either end of those edge types in the graph model (a role that
  may follow an edge may read what it leads to);
- ``Origin`` and ``Provenance`` (why a record exists) if it is in ``PROVENANCE``;
- the answer types of its root fields: the object types they answer with, up to
  the nodes and edges they lead to (derived from the schema).

serving.access_guard enforces it on every field of every operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from graphql import GraphQLObjectType, GraphQLSchema, get_named_type

from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.graph_model.types import Registry

OPS, SCHEDULER, AUDITOR = "ops", "scheduler", "auditor"
ROLES = (OPS, SCHEDULER, AUDITOR)
EVERYONE = frozenset(ROLES)

ROOT_FIELDS: dict[str, frozenset[str]] = {
    "node": EVERYONE,
    "nodes": frozenset({OPS, SCHEDULER}),
    "searchNodes": frozenset({OPS, SCHEDULER}),
    "traverse": frozenset({OPS, SCHEDULER}),
    "path": frozenset({OPS, SCHEDULER}),
    "modelHotness": frozenset({OPS, SCHEDULER}),
    "placement": frozenset({OPS, SCHEDULER}),
    "affectedJobs": frozenset({OPS}),
    "blastRadius": frozenset({OPS}),
    "componentTimeline": frozenset({OPS}),
    "lineage": frozenset({OPS, AUDITOR}),
    "dataResidency": frozenset({OPS, AUDITOR}),
    "dataResidencySummary": frozenset({OPS, AUDITOR}),
    "auditBundle": frozenset({OPS, AUDITOR}),
    "integrity": frozenset({OPS}),
}

EDGE_GROUPS: dict[str, frozenset[str]] = {
    "topology": frozenset({"in_site", "in_rack", "in_server", "attached_to",
                           "cooled_by", "powered_by"}),
    "health": frozenset({"had_fault"}),
    "placement": frozenset({"ran_on", "allocated"}),
    "models": frozenset({"artifact_of", "used_model", "cached_at"}),
    "lineage": frozenset({"read", "produced", "derived_from", "owned_by", "launched_by"}),
}
ROLE_EDGE_GROUPS: dict[str, frozenset[str]] = {
    OPS: frozenset(EDGE_GROUPS),
    SCHEDULER: frozenset({"topology", "health", "placement", "models"}),
    AUDITOR: frozenset({"models", "lineage"}),
}
PROVENANCE = frozenset({OPS, AUDITOR})

# Object types that carry graph records: a node object is read as its node type,
# ``Edge`` as its record's edge type, a ``Replica`` is a cached_at edge.
NODE_INTERFACE = "Node"
EDGE_OBJECT = "Edge"
EDGE_OBJECTS = {"Replica": "cached_at"}
PROVENANCE_OBJECTS = frozenset({"Origin", "Provenance"})
META_FIELDS = frozenset({"__typename", "__schema", "__type"})


@dataclass(frozen=True)
class Access:
    """What one role reads, in the graph model's terms."""

    role: str
    everything: bool
    root_fields: frozenset[str]
    edge_types: frozenset[str]
    node_types: frozenset[str]
    provenance: bool

    def reads_root(self, name: str) -> bool:
        return self.everything or name in self.root_fields or name in META_FIELDS

    def reads_edge(self, edge_type: str) -> bool:
        return self.everything or edge_type in self.edge_types

    def reads_node(self, node_type: str) -> bool:
        return self.everything or node_type in self.node_types

    def may_read(self) -> str:
        """What the role reads, for the message of a refusal."""
        return (f"it reads root fields {_names(self.root_fields)}; "
                f"node types {_names(self.node_types)}; "
                f"edge types {_names(self.edge_types)}")


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


# (role, id(registry), its node and edge type counts) -> (registry, access): every
# request asks for its role's access; a registry only ever gains types
_ACCESS: dict[tuple[str, int, int, int], tuple[Registry, Access]] = {}


def access_of(role: str, registry: Registry = FLEET) -> Access:
    """The access of a role (``ValueError`` for a role that is not in ROLES)."""
    key = (role, id(registry), len(registry.nodes), len(registry.edges))
    kept = _ACCESS.get(key)
    if kept is not None and kept[0] is registry:
        return kept[1]
    access = _access_of(role, registry)
    if len(_ACCESS) > 64:  # registries made by tests, each asked a few times
        _ACCESS.clear()
    _ACCESS[key] = (registry, access)
    return access


def _access_of(role: str, registry: Registry) -> Access:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    edge_types = frozenset(t for group in ROLE_EDGE_GROUPS[role] for t in EDGE_GROUPS[group])
    everything = role == OPS
    node_types = (frozenset(registry.nodes) if everything else frozenset(
        n for t in edge_types for n in registry.edge(t).from_types | registry.edge(t).to_types))
    return Access(
        role=role,
        everything=everything,
        root_fields=frozenset(f for f, roles in ROOT_FIELDS.items() if role in roles),
        edge_types=frozenset(registry.edges) if everything else edge_types,
        node_types=node_types,
        provenance=role in PROVENANCE,
    )


NOBODY = Access("none", everything=False, root_fields=frozenset(), edge_types=frozenset(),
                node_types=frozenset(), provenance=False)
"""The access of a request without a role: nothing."""


def node_object_types(schema: GraphQLSchema) -> frozenset[str]:
    """The GraphQL object types that serve graph nodes (those implementing Node)."""
    return frozenset(t.name for t in schema.type_map.values()
                     if isinstance(t, GraphQLObjectType)
                     and any(i.name == NODE_INTERFACE for i in t.interfaces))


def _is_record(name: str, nodes: frozenset[str]) -> bool:
    return (name in nodes or name == EDGE_OBJECT or name in EDGE_OBJECTS
            or name in PROVENANCE_OBJECTS)


def answer_types(schema: GraphQLSchema, root_fields: Iterable[str]) -> frozenset[str]:
    """The object types root fields answer with, up to the records they lead to."""
    nodes = node_object_types(schema)
    fields = schema.query_type.fields if schema.query_type else {}
    queue = [get_named_type(fields[f].type) for f in root_fields if f in fields]
    seen: set[str] = set()
    while queue:
        found = queue.pop()
        if (not isinstance(found, GraphQLObjectType) or found.name in seen
                or _is_record(found.name, nodes)):
            continue
        seen.add(found.name)
        queue.extend(get_named_type(f.type) for f in found.fields.values())
    return frozenset(seen)


@dataclass(frozen=True)
class TypeGrant:
    """One role's access in GraphQL terms, over one schema."""

    access: Access
    query: str  # the root type's name
    readable: frozenset[str]  # object types read whole: answers, edge and provenance objects
    nodes: frozenset[str]  # node object types: read as their record's node type
    denied: frozenset[str]  # object types it reads none of


@cache
def type_grant(schema: GraphQLSchema, access: Access) -> TypeGrant:
    """The object types ``access`` reads in ``schema`` (computed once per schema)."""
    readable = set(answer_types(schema, access.root_fields))
    readable |= {name for name, edge in EDGE_OBJECTS.items() if access.reads_edge(edge)}
    if access.provenance:
        readable |= PROVENANCE_OBJECTS
    query = schema.query_type.name if schema.query_type else "Query"
    nodes = node_object_types(schema)
    denied = frozenset(t.name for t in schema.type_map.values()
                       if isinstance(t, GraphQLObjectType) and not t.name.startswith("__")
                       and t.name not in readable | nodes | {query, EDGE_OBJECT})
    return TypeGrant(access, query, frozenset(readable), nodes,
                     frozenset() if access.everything else denied)


def undecided_root_fields(schema: GraphQLSchema) -> list[str]:
    """Root fields of the schema that ROOT_FIELDS does not decide on."""
    fields = schema.query_type.fields if schema.query_type else {}
    return sorted(set(fields) - ROOT_FIELDS.keys())


def undecided_types(schema: GraphQLSchema) -> list[str]:
    """Object types no role could read: neither the root, a record type, nor the
    answer of a root field (a new type needs a decision)."""
    nodes = node_object_types(schema)
    answers = answer_types(schema, ROOT_FIELDS)
    query = schema.query_type.name if schema.query_type else "Query"
    return sorted(t.name for t in schema.type_map.values()
                  if isinstance(t, GraphQLObjectType) and not t.name.startswith("__")
                  and t.name != query and t.name not in answers
                  and not _is_record(t.name, nodes))


def matrix_rows(schema: GraphQLSchema) -> list[tuple[str, dict[str, bool]]]:
    """The role matrix row by row: a type or field, and whether each role reads it."""
    grants = [access_of(r) for r in ROLES]
    answers = {a.role: answer_types(schema, a.root_fields) for a in grants}
    fields = sorted(schema.query_type.fields) if schema.query_type else []
    rows = [(f"root field `{f}`", {a.role: a.reads_root(f) for a in grants}) for f in fields]
    rows += [(f"node type `{n}`", {a.role: a.reads_node(n) for a in grants})
             for n in sorted(FLEET.nodes)]
    rows += [(f"edge type `{e}` ({group})", {a.role: a.reads_edge(e) for a in grants})
             for group, edges in EDGE_GROUPS.items() for e in sorted(edges)]
    rows += [(f"`{t}`", {a.role: a.provenance for a in grants})
             for t in sorted(PROVENANCE_OBJECTS)]
    rows += [(f"answer `{t}`", {a.role: t in answers[a.role] for a in grants})
             for t in sorted(answer_types(schema, ROOT_FIELDS))]
    return rows


def matrix_markdown(schema: GraphQLSchema) -> str:
    """The role matrix as the Markdown table of docs/queries.md."""
    lines = ["| type or field | " + " | ".join(ROLES) + " |",
             "| --- |" + " :-: |" * len(ROLES)]
    lines += [f"| {label} | " + " | ".join("yes" if reads[r] else "no" for r in ROLES) + " |"
              for label, reads in matrix_rows(schema)]
    return "\n".join(lines) + "\n"
