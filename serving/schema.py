"""The GraphQL schema: the root Query joined from one query class per domain."""

from __future__ import annotations

from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, QueryDepthLimiter
from strawberry.types import ExecutionContext

from fleetgraph.errors import FleetgraphError
from serving.root.graph import GraphQuery
from serving.root.incidents import IncidentQuery
from serving.root.placement import PlacementQuery
from serving.types.node import NODE_CLASSES, GenericNode

MAX_DEPTH = 16
MAX_ALIASES = 32


@strawberry.type(description="Traversals of the fleet graph and the headline queries.")
class Query(GraphQuery, IncidentQuery, PlacementQuery):
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
    *, max_depth: int = MAX_DEPTH, max_aliases: int = MAX_ALIASES
) -> strawberry.Schema:
    """The schema, with guards on query depth and aliases; unexpected errors are masked.

    Extensions are created afresh for every operation.
    """
    return FleetSchema(
        query=Query,
        types=[*NODE_CLASSES.values(), GenericNode],
        extensions=[
            partial(QueryDepthLimiter, max_depth=max_depth),
            partial(MaxAliasesLimiter, max_alias_count=max_aliases),
            partial(MaskErrors, should_mask_error=is_unexpected),
        ],
    )
