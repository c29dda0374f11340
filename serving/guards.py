"""Limits that keep one query from taking the server down.

Depth, aliases, estimated cost and fragment cycles are checked here, before
graphql-core's validation, in time linear in the document (serving.shape);
tokens use strawberry's extension. :class:`ErrorCodes` gives every GraphQL
error a stable ``extensions.code`` (the list is in docs/queries.md) so that
clients need not read messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from graphql import GraphQLError, GraphQLSchema, GraphQLSyntaxError
from graphql.language import DocumentNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from fleetgraph.serving.errors import NotFound, ServingError
from fleetgraph.serving.fragments import FragmentCycle
from fleetgraph.serving.shape import ShapeMeter


@dataclass(frozen=True)
class Limits:
    max_depth: int = 16
    max_aliases: int = 32
    max_tokens: int = 4000
    max_cost: int = 200_000
    max_operations: int = 10
    max_merge_pairs: int = 5_000
    timeout_s: float = 10.0
    max_body_bytes: int = 128 * 1024
    shutdown_grace_s: int = 3  # on SIGTERM, requests in flight get this long, then are cut


DEFAULT_LIMITS = Limits()


def check_document(
    schema: GraphQLSchema, document: DocumentNode, limits: Limits
) -> list[GraphQLError]:
    """Errors for fragment cycles, too many operations or repeated fields, and operations
    too deep, too expensive or with too many aliases. Each fragment is measured once,
    so this is linear in the document; what it lets through, graphql-core's rules
    validate in about the time they take for a document without repeated fields."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) > limits.max_operations:  # validation walks fragments per operation
        return [GraphQLError(
            f"{len(operations)} operations in one document (at most {limits.max_operations}); "
            "send only the operations you run", extensions={"code": "TOO_MANY_OPERATIONS"})]
    try:
        meter = ShapeMeter(schema, document)
    except FragmentCycle as cycle:
        return [GraphQLError(str(cycle), list(cycle.spreads), extensions={"code": cycle.code})]
    shapes = [(operation, meter.operation(operation)) for operation in operations]
    errors: list[GraphQLError] = []
    if meter.merge_pairs > limits.max_merge_pairs:
        errors.append(GraphQLError(
            f"the document repeats fields: checking that its same-named fields can be merged "
            f"would take about {meter.merge_pairs:,} comparisons (limit "
            f"{limits.max_merge_pairs:,}); select each field once",
            extensions={"code": "TOO_MANY_REPEATED_FIELDS"}))
    for operation, shape in shapes:
        name = operation.name.value if operation.name else "anonymous"
        if shape.depth > limits.max_depth:
            errors.append(GraphQLError(
                f"'{name}' exceeds maximum operation depth of {limits.max_depth}: its fields "
                f"nest {shape.depth} deep; select less nested data or split the query",
                operation, extensions={"code": "QUERY_TOO_DEEP"}))
        cost = shape.cost()
        if cost > limits.max_cost:
            errors.append(GraphQLError(
                f"query too expensive: it may touch about {cost:,} objects "
                f"(limit {limits.max_cost:,}); ask for fewer items with 'first' or 'limit', "
                "or select fewer nested lists",
                operation, extensions={"code": "QUERY_TOO_EXPENSIVE"}))
    aliases = sum(shape.aliases for _, shape in shapes)
    if aliases > limits.max_aliases:
        errors.append(GraphQLError(f"{aliases} aliases found. Allowed: {limits.max_aliases}",
                                   extensions={"code": "TOO_MANY_ALIASES"}))
    return errors


# What the errors of strawberry's guards say, and their codes.
GUARD_MESSAGES = (
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


MASKED_MESSAGE = "Unexpected error."


def masked(error: GraphQLError) -> GraphQLError:
    """``error`` without its message or original error (as strawberry's MaskErrors)."""
    return GraphQLError(MASKED_MESSAGE, nodes=error.nodes, source=error.source,
                        positions=error.positions, path=error.path, original_error=None)


class ErrorCodes(SchemaExtension):
    """Masks the errors ``mask`` picks (strawberry's MaskErrors, folded in: one hook
    fewer on every request), then sets ``extensions.code`` on every error of a result,
    masked ones included."""

    def __init__(self, *, mask: Callable[[GraphQLError], bool] | None = None) -> None:
        self.mask = mask

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if not errors:
            return
        if self.mask is not None:
            mask = self.mask
            errors = [masked(e) if mask(e) else e for e in errors]
            result.errors = errors  # type: ignore[union-attr]
        for error in errors:
            error.extensions = {**(error.extensions or {}), "code": error_code(error)}
