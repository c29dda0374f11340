"""The role matrix (serving.access) enforced inside strawberry, on what it executes.

- Before execution, the root fields of the operation strawberry is about to execute
  (fragments included) are judged: one the role may not read refuses the whole
  operation (HTTP 403, ``FORBIDDEN``), nothing is read.
- Every field resolution is checked (:meth:`RoleAccess.resolve`): a field of a node
  object needs its node type, of an ``Edge`` its edge type, of any other object its
  type in the role's grant; ``node(id)``, ``nodes``/``searchNodes(type)``,
  ``traverse`` steps and ``path`` edge types are checked before they read.
- Relationship fields and ``neighbours`` read adjacency through the request's
  loaders, which follow only the edge types the role reads (:class:`GuardedLoaders`).

A refusal is a GraphQL error with code ``FORBIDDEN`` naming the role, the type or
field, and what the role reads; never a silent null.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    get_named_type,
)
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.serving.access import EDGE_OBJECT, NOBODY, Access, TypeGrant, type_grant
from fleetgraph.serving.errors import ServingError
from fleetgraph.serving.loaders import BatchLoader, GraphLoaders
from fleetgraph.serving.reads import StoreReads
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

FORBIDDEN = "FORBIDDEN"

# a plain field's verdict for a request: None (read), a refusal, or a check per source
PlainFieldRule = str | Callable[[Any], str | None] | None


class Forbidden(ServingError):
    """The request's role may not read a type, field or edge type."""

    code = FORBIDDEN


class GuardedLoaders(GraphLoaders):
    """The request's loaders, following only the edge types its role reads."""

    def __init__(self, store: GraphStore, access: Access, reads: StoreReads | None = None
                 ) -> None:
        super().__init__(store, reads)
        self.access = access

    def neighbours(
        self, edge_type: str, direction: Direction, window: TimeWindow | None
    ) -> BatchLoader[str, list[EdgeRecord]]:
        if not self.access.reads_edge(edge_type):
            raise Forbidden(f"role {self.access.role!r} may not follow edge type "
                            f"{edge_type!r}; {self.access.may_read()}")
        return super().neighbours(edge_type, direction, window)


def root_fields(document: DocumentNode, operation_name: str | None) -> set[str]:
    """The root fields of the operation(s) named ``operation_name`` (all of them when
    None), through fragments; linear in the document (each fragment read once)."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    names: set[str] = set()
    seen: set[str] = set()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
                operation_name is None
                or (definition.name is not None and definition.name.value == operation_name)):
            _collect(definition.selection_set, fragments, names, seen)
    return names


def _collect(selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode],
             names: set[str], seen: set[str]) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, fragments, names, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                seen.add(name)
                _collect(fragments[name].selection_set, fragments, names, seen)


def root_refusal(access: Access, asked: set[str]) -> str | None:
    """Why ``access`` may not ask the root fields ``asked`` (None: it may)."""
    denied = sorted(f for f in asked if not access.reads_root(f))
    if not denied:
        return None
    return (f"role {access.role!r} may not read {', '.join(denied)}; it may read "
            f"{', '.join(sorted(access.root_fields)) or 'nothing'}")


def access_in(context: object) -> Access:
    """The access of a request's context (NOBODY when it carries none)."""
    access = getattr(context, "access", None)
    return access if isinstance(access, Access) else NOBODY


def _ids_type(value: Any) -> str | None:
    head, sep, _ = value.partition(":") if isinstance(value, str) else ("", "", "")
    return head if sep else None


def _step_edge(step: Any) -> Any:
    return step.get("edgeType") if isinstance(step, dict) else None


# The node types and edge types a root field's arguments ask for, checked before it
# reads (the arguments as graphql-core coerced them: GraphQL names, inputs as dicts).
ARGUMENT_NODE_TYPES: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "node": lambda args: [_ids_type(args.get("id"))],
    "nodes": lambda args: [args.get("type")],
    "searchNodes": lambda args: [args.get("type")],
}
ARGUMENT_EDGE_TYPES: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "traverse": lambda args: [_step_edge(s) for s in args.get("steps") or ()],
    "path": lambda args: list(args.get("edgeTypes") or ()),
}


def argument_refusal(access: Access, field: str, args: dict[str, Any]) -> str | None:
    """Why the arguments of root field ``field`` ask for more than ``access`` reads."""
    nodes = ARGUMENT_NODE_TYPES.get(field)
    for node_type in nodes(args) if nodes else ():
        if isinstance(node_type, str) and not access.reads_node(node_type):
            return (f"role {access.role!r} may not read node type {node_type!r} "
                    f"({field}); {access.may_read()}")
    edges = ARGUMENT_EDGE_TYPES.get(field)
    for edge_type in edges(args) if edges else ():
        if isinstance(edge_type, str) and not access.reads_edge(edge_type):
            return (f"role {access.role!r} may not follow edge type {edge_type!r} "
                    f"({field}); {access.may_read()}")
    return None


def field_refusal(grant: TypeGrant, info: GraphQLResolveInfo[Any], root: Any,
                  args: dict[str, Any]) -> str | None:
    """Why the role of ``grant`` may not resolve this field (None: it may): its parent
    object is not the role's to read, or its answer is of a type the role reads none of."""
    return refusal_of(grant, info.parent_type.name, info.field_name, info.return_type, root,
                      args)


def refusal_of(grant: TypeGrant, parent: str, field: str, return_type: GraphQLOutputType,
            root: Any, args: dict[str, Any]) -> str | None:
    """:func:`field_refusal` of field ``field`` of object type ``parent``."""
    found = parent_refusal(grant, parent, field, root, args)
    if found is None and grant.denied:
        answer = get_named_type(return_type).name
        if answer in grant.denied:
            found = (f"role {grant.access.role!r} may not read {parent}.{field} ({answer}); "
                     f"{grant.access.may_read()}")
    return found


def parent_refusal(grant: TypeGrant, parent: str, field: str, root: Any,
                   args: dict[str, Any]) -> str | None:
    if parent in grant.readable or parent.startswith("__"):
        return None
    access = grant.access
    if parent == grant.query:
        if not access.reads_root(field):
            return root_refusal(access, {field})
        return argument_refusal(access, field, args)
    if parent in grant.nodes:
        node_type = root.record.type
        if access.reads_node(node_type):
            return None
        return (f"role {access.role!r} may not read {parent}.{field} (node type "
                f"{node_type!r}); {access.may_read()}")
    if parent == EDGE_OBJECT:
        edge_type = root.record.type
        if access.reads_edge(edge_type):
            return None
        return (f"role {access.role!r} may not read {parent}.{field} (edge type "
                f"{edge_type!r}); {access.may_read()}")
    return f"role {access.role!r} may not read {parent}.{field}; {access.may_read()}"


class RoleAccess(SchemaExtension):
    """Enforces the role matrix on the document strawberry executes (see module doc)."""

    grant: TypeGrant | None = None

    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        super().__init__(execution_context=execution_context)
        self._plain_refusals: dict[tuple[str, str], str | None] = {}

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        access = access_in(context)
        document = self.execution_context.graphql_document
        if not access.everything and document is not None:
            self.grant = type_grant(self.execution_context.schema._schema, access)
            refusal = root_refusal(access, root_fields(
                document, self.execution_context.operation_name))
            if refusal is not None:  # the whole operation: nothing is executed
                self.execution_context.result = ExecutionResult(
                    data=None, errors=[GraphQLError(refusal, extensions={"code": FORBIDDEN})])
                response = getattr(context, "response", None)
                if response is not None:
                    response.status_code = 403
        yield

    def resolve(
        self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any],
        *args: Any, **kwargs: Any,
    ) -> Any:
        grant = self.grant
        if grant is not None:
            refusal = field_refusal(grant, info, root, kwargs)
            if refusal is not None:
                raise Forbidden(refusal)
        return _next(root, info, *args, **kwargs)

    def plain_field_rule(self, parent_type: GraphQLObjectType, field_name: str,
                         return_type: GraphQLOutputType) -> PlainFieldRule:
        """:meth:`resolve`'s check of a field without arguments, without its resolve info
        (serving.execution resolves plain leaves so), asked once per field and request:
        None (every source may be read), a refusal (none may), or, for a field of a node
        object or an ``Edge`` (judged by the record's type), the check of one source."""
        grant = self.grant
        if grant is None:
            return None
        parent = parent_type.name
        if parent in grant.nodes or parent == EDGE_OBJECT:
            return partial(_source_refusal, grant, parent, field_name, return_type)
        key = (parent, field_name)  # judged by the names alone: once per request
        try:
            return self._plain_refusals[key]
        except KeyError:
            found = self._plain_refusals[key] = refusal_of(grant, parent, field_name,
                                                           return_type, None, {})
            return found

    def plain_field_refusal(self, parent_type: GraphQLObjectType, field_name: str,
                            return_type: GraphQLOutputType, source: Any) -> str | None:
        """:meth:`plain_field_rule` applied to one source."""
        rule = self.plain_field_rule(parent_type, field_name, return_type)
        return rule(source) if callable(rule) else rule


def _source_refusal(grant: TypeGrant, parent: str, field: str, return_type: GraphQLOutputType,
                    source: Any) -> str | None:
    return refusal_of(grant, parent, field, return_type, source, {})
