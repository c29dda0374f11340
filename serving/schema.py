"""The GraphQL schema: the root Query joined from one query class per domain."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from fleetgraph.core.errors import FleetgraphError
from fleetgraph.serving.access_guard import RoleAccess
from fleetgraph.serving.documents import DocumentCache, OffLoopDocuments
from fleetgraph.serving.execution import FleetExecutionContext
from fleetgraph.serving.guards import DEFAULT_LIMITS, ErrorCodes, Limits
from fleetgraph.serving.metrics import QueryMetrics
from fleetgraph.serving.root.audit import AuditQuery
from fleetgraph.serving.root.audit_bundle import AuditBundleQuery
from fleetgraph.serving.root.graph import GraphQuery
from fleetgraph.serving.root.incidents import IncidentQuery
from fleetgraph.serving.root.integrity import IntegrityQuery
from fleetgraph.serving.root.placement import PlacementQuery
from fleetgraph.serving.types.node import NODE_CLASSES, GenericNode
from fleetgraph.serving.types.scalars import SCALARS


@strawberry.type(description="Traversals of the fleet graph and the headline queries.")
class Query(GraphQuery, IncidentQuery, PlacementQuery, AuditQuery, AuditBundleQuery,
            IntegrityQuery):
    pass


def is_unexpected(error: GraphQLError) -> bool:
    """Hide the message of errors fleetgraph did not raise on purpose (they are logged)."""
    original = error.original_error
    return original is not None and not isinstance(original, FleetgraphError | GraphQLError)


class FleetSchema(strawberry.Schema):
    """Logs only unexpected errors: a wrong id or argument is the client's to read."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        super().process_errors([e for e in errors if is_unexpected(e)], execution_context)


def build_schema(
    *, limits: Limits = DEFAULT_LIMITS, production: bool = False, plain_leaves: bool = True
) -> strawberry.Schema:
    """The schema with its guards: tokens, fragment cycles, depth, aliases and estimated
    cost, checked with the rest of validation in a worker thread (serving.documents);
    the documents that pass are kept (the schema's own DocumentCache) and run at once
    when sent again.

    In production, introspection is off and the message of any error fleetgraph
    did not raise on purpose is masked; in development those messages are shown.
    Every error gets a stable ``extensions.code`` (serving.guards.ErrorCodes).
    Extensions are created afresh for every operation. Plain leaf fields are resolved
    without graphql-core's per-field machinery (serving.execution; ``plain_leaves=False``
    for the ordinary executor, the reference in tests and benchmarks).
    """
    extensions: list[Any] = [
        partial(ErrorCodes, mask=is_unexpected if production else None),
        RoleAccess,
        QueryMetrics,  # root fields' latency and errors, for the app's /metrics
        partial(OffLoopDocuments, limits=limits, cache=DocumentCache(),
                introspection=not production),
    ]
    return FleetSchema(
        query=Query,
        types=[*NODE_CLASSES.values(), GenericNode],
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=FleetExecutionContext if plain_leaves else None,
    )
