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

Clients send the same few documents again and again with other variables, and
parsing and validating a headline query costs several times what the store takes
to answer it. :class:`DocumentCache` keeps the documents that passed every check
(one cache per schema, a bounded LRU keyed by what the verdict depends on: the
text, the operation name, the parse options and the validation rules); a
document found there is executed at once, with no thread hop. A new document, or
one that was refused, is judged afresh in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from graphql import (
    ASTValidationRule,
    GraphQLError,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    get_operation_ast,
    parse,
)
from graphql.language import DocumentNode
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

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


# Headline documents are well under 1 KB; the text of all cached documents stays under
# MAX_DOCUMENTS * MAX_DOCUMENT_CHARS (2 MB), their syntax trees a few times that.
MAX_DOCUMENTS = 256
MAX_DOCUMENT_CHARS = 8 * 1024


class DocumentCache:
    """Documents that were parsed and passed fleetgraph's guards and graphql-core's
    validation, least recently used first out. Thread-safe; one per schema (and its
    limits), so the key holds the rest of what the verdict depends on. A verdict does
    not depend on the role: what a role may read is judged on every request
    (serving.access_guard)."""

    def __init__(self, max_documents: int = MAX_DOCUMENTS,
                 max_chars: int = MAX_DOCUMENT_CHARS) -> None:
        self.max_documents = max_documents
        self.max_chars = max_chars
        self._documents: OrderedDict[Hashable, DocumentNode] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._documents)

    def key(self, context: ExecutionContext) -> Hashable | None:
        """What a document's verdict depends on; None for a document too long to keep."""
        query = context.query
        if not query or len(query) > self.max_chars:
            return None
        return (query, context.operation_name, tuple(sorted(context.parse_options.items())),
                tuple(context.validation_rules))

    def get(self, key: Hashable) -> DocumentNode | None:
        with self._lock:
            document = self._documents.get(key)
            if document is not None:
                self._documents.move_to_end(key)
            return document

    def put(self, key: Hashable, document: DocumentNode) -> None:
        with self._lock:
            self._documents[key] = document
            self._documents.move_to_end(key)
            while len(self._documents) > self.max_documents:
                self._documents.popitem(last=False)


class OffLoopDocuments(SchemaExtension):
    """Parses and validates in a worker thread, or takes a document that passed both
    from ``cache``; strawberry then skips both steps. Parsing stops past
    ``limits.max_tokens`` tokens (what strawberry's MaxTokensLimiter sets), and
    without ``introspection`` validation refuses ``__schema`` and ``__type`` (its
    DisableIntrospection rule): one extension instead of three, since strawberry
    inspects every extension's hooks at every step of every request."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS,
                 cache: DocumentCache | None = None, introspection: bool = True) -> None:
        self.limits = limits
        self.cache = cache
        self.introspection = introspection
        self._key: Hashable | None = None
        self._cached = False

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.limits.max_tokens
        if not self.introspection:
            context.validation_rules = (*context.validation_rules,
                                        NoSchemaIntrospectionCustomRule)
        if context.graphql_document is None and context.query:
            if self.cache is not None:
                self._key = self.cache.key(context)
            found = None if self._key is None or self.cache is None else self.cache.get(self._key)
            if found is not None:
                context.graphql_document, self._cached = found, True
            else:
                # a syntax error raised here is the operation's only error (and keeps its code)
                context.graphql_document = await in_worker(
                    parse_document, context.query, dict(context.parse_options),
                    context.operation_name)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.pre_execution_errors is None and context.graphql_document is not None:
            if self._cached:
                context.pre_execution_errors = []
            else:
                context.pre_execution_errors = await in_worker(
                    validate, context.schema._schema, context.graphql_document,
                    tuple(context.validation_rules), self.limits)
                if not context.pre_execution_errors and self._key is not None \
                        and self.cache is not None:
                    self.cache.put(self._key, context.graphql_document)
        yield
