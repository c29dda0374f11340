"""Limits that keep one query from taking the server down.

Depth, aliases and tokens use strawberry's extensions; the cost rule here
estimates how many objects a query may touch before it runs: every field
costs one, and a list field multiplies the cost of what it selects by its
``first`` or ``limit`` argument, or by ``ASSUMED_FANOUT`` when it has none.
:class:`ErrorCodes` gives every GraphQL error a stable ``extensions.code``
(the list is in docs/queries.md) so that clients need not read messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSyntaxError,
    ValidationContext,
    ValidationRule,
    get_named_type,
)
from graphql.language import FragmentDefinitionNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from serving.errors import NotFound, ServingError

ASSUMED_FANOUT = 20


@dataclass(frozen=True)
class Limits:
    max_depth: int = 16
    max_aliases: int = 32
    max_tokens: int = 4000
    max_cost: int = 200_000
    timeout_s: float = 10.0
    max_body_bytes: int = 128 * 1024


DEFAULT_LIMITS = Limits()


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _page_size(node: FieldNode) -> int | None:
    """The literal ``first`` or ``limit`` argument of a field, if any (variables are
    not known at validation time: a field paged by a variable counts as ASSUMED_FANOUT)."""
    for argument in node.arguments or ():
        if argument.name.value in ("first", "limit"):
            value = getattr(argument.value, "value", None)
            if isinstance(value, str) and value.isdigit():
                return max(1, int(value))
            return ASSUMED_FANOUT
    return None


def cost_rule(max_cost: int) -> type[ValidationRule]:
    """A validation rule refusing operations whose estimated cost exceeds ``max_cost``."""

    class CostLimit(ValidationRule):
        def enter_operation_definition(
            self, node: OperationDefinitionNode, *_: Any
        ) -> None:
            context: ValidationContext = self.context
            schema = context.schema
            root = schema.get_root_type(node.operation)
            fragments = {f.name.value: f for f in context.document.definitions
                         if isinstance(f, FragmentDefinitionNode)}
            cost = _selection_cost(node.selection_set, root, schema, fragments, None, 0)
            if cost > max_cost:
                context.report_error(GraphQLError(
                    f"query too expensive: it may touch about {cost:,} objects "
                    f"(limit {max_cost:,}); ask for fewer items with 'first' or 'limit', "
                    "or select fewer nested lists",
                    node,
                    extensions={"code": "QUERY_TOO_EXPENSIVE"},
                ))

    return CostLimit


def _selection_cost(
    selection_set: Any, parent: Any, schema: Any, fragments: dict[str, Any],
    inherited: int | None, depth: int,
) -> int:
    """Estimated objects touched by a selection; ``inherited`` is the page size of an
    enclosing connection (``nodes(first: 100) { items { ... } }``)."""
    if selection_set is None or parent is None or depth > 64:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            definition = getattr(parent, "fields", {}).get(selection.name.value)
            if definition is None:
                total += 1
                continue
            page = _page_size(selection)
            if _is_list(definition.type):
                multiplier, passed = page or inherited or ASSUMED_FANOUT, None
            else:
                multiplier, passed = 1, page
            inner = _selection_cost(selection.selection_set, get_named_type(definition.type),
                                    schema, fragments, passed, depth + 1)
            total += 1 + multiplier * inner
        else:
            fragment = (selection if hasattr(selection, "selection_set")
                        else fragments.get(selection.name.value))
            if fragment is None:
                continue
            condition = getattr(fragment, "type_condition", None)
            target = schema.get_type(condition.name.value) if condition else parent
            total += _selection_cost(fragment.selection_set, target, schema, fragments,
                                     inherited, depth + 1)
    return total


# What the validation and parse errors of strawberry's guards say, and their codes.
GUARD_MESSAGES = (
    ("exceeds maximum operation depth", "QUERY_TOO_DEEP"),
    ("aliases found. Allowed", "TOO_MANY_ALIASES"),
    ("Document contains more than", "TOO_MANY_TOKENS"),
    ("introspection has been disabled", "INTROSPECTION_DISABLED"),
)


def error_code(error: GraphQLError) -> str:
    """The stable code of a GraphQL error, for ``extensions.code``."""
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    original = error.original_error
    if isinstance(original, ServingError):
        own = getattr(original, "code", None)
        if isinstance(own, str):
            return own
        return "NOT_FOUND" if isinstance(original, NotFound) else "BAD_USER_INPUT"
    if original is not None and not isinstance(original, GraphQLError):
        return "INTERNAL_SERVER_ERROR"
    for text, guard_code in GUARD_MESSAGES:
        if text in error.message:
            return guard_code
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    if error.path is not None:  # an execution error whose message was masked
        return "INTERNAL_SERVER_ERROR"
    return "GRAPHQL_VALIDATION_FAILED"


class ErrorCodes(SchemaExtension):
    """Sets ``extensions.code`` on every error of a result; list it before MaskErrors
    (its hook runs after theirs, so masked errors get a code too)."""

    def on_operation(self) -> Iterator[None]:
        yield
        for error in getattr(self.execution_context.result, "errors", None) or ():
            error.extensions = {**(error.extensions or {}), "code": error_code(error)}
