"""Parsing and validating GraphQL documents in worker threads, off the event loop.

Parsing is linear but takes tens of milliseconds at the token limit, and
graphql-core's validation is not linear: OverlappingFieldsCanBeMergedRule
compares the fields of one response name pair by pair, so a document within
the token limit (440 copies of ``node(id: "a") { id }``) takes about a second.
On the event loop that would stall every other request, ``/healthz`` and a
SIGTERM. :class:`OffLoopDocuments` parses the document, runs fleetgraph's own
checks (serving.guards.check_document, linear; a document they refuse is not
validated further) and then graphql-core's rules in a worker thread: the
event loop goes on serving, and the request's deadline answers a client whose
document takes too long.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from graphql import ASTValidationRule, GraphQLError, GraphQLSchema, get_operation_ast, parse
from graphql.language import DocumentNode
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from fleetgraph.serving.guards import DEFAULT_LIMITS, Limits, check_document, error_code

# Two threads: a slow document delays the next one less than with one, and the
# event loop competes for the interpreter with fewer threads than with many.
DOCUMENT_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="graphql-documents")

T = TypeVar("T")


async def in_worker(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in a document worker thread; the caller may be cancelled meanwhile
    (the thread then finishes the work and its result is dropped)."""
    return await asyncio.get_running_loop().run_in_executor(DOCUMENT_WORKERS,
                                                            partial(work, *args))


def parse_document(
    query: str, options: Mapping[str, Any], operation_name: str | None
) -> DocumentNode:
    """The parsed document, which must hold the operation to run; a syntax error (or
    too many tokens) carries its code, and so does a missing or ambiguous operation
    (which strawberry would answer with a bare 400 text)."""
    try:
        document = parse(query, **options)
    except GraphQLError as error:
        error.extensions = {**(error.extensions or {}), "code": error_code(error)}
        raise
    if get_operation_ast(document, operation_name) is None:
        raise GraphQLError(
            f"the document has no operation named {operation_name!r}" if operation_name
            else "the document holds no operation, or several: name the one to run with "
                 "'operationName'", extensions={"code": "UNKNOWN_OPERATION"})
    return document


def validate(
    schema: GraphQLSchema, document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...], limits: Limits,
) -> list[GraphQLError]:
    """fleetgraph's checks, then (when they pass) strawberry's and graphql-core's rules."""
    return check_document(schema, document, limits) or validate_document(schema, document, rules)


class OffLoopDocuments(SchemaExtension):
    """Parses and validates in a worker thread; strawberry then skips both steps."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            # a syntax error raised here is the operation's only error (and keeps its code)
            context.graphql_document = await in_worker(
                parse_document, context.query, dict(context.parse_options),
                context.operation_name)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.pre_execution_errors is None and context.graphql_document is not None:
            context.pre_execution_errors = await in_worker(
                validate, context.schema._schema, context.graphql_document,
                tuple(context.validation_rules), self.limits)
        yield
