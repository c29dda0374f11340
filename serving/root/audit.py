"""Compliance audits: lineage of data and models, and where data went."""

from __future__ import annotations

import asyncio

import strawberry

from serving.context import Info
from serving.errors import InvalidArgument
from serving.queries import lineage as lineage_query
from serving.queries import residency as residency_query
from serving.types.audit import DataResidency, Lineage, LineageDirection
from serving.types.field import field


@strawberry.type
class AuditQuery:
    @field(
        description="UP: where an artifact, model or dataset came from (derived_from, "
        "artifact_of, the jobs that produced it, their inputs, model, user, application, "
        "site and jurisdiction); DOWN: what flowed from it. 'depth' counts edges (at most "
        f"{lineage_query.MAX_DEPTH}); at most 'limit' nodes. See docs/queries.md."
    )
    async def lineage(
        self,
        info: Info,
        id: strawberry.ID,
        direction: LineageDirection,
        depth: int = lineage_query.DEFAULT_DEPTH,
        limit: int = lineage_query.DEFAULT_LIMIT,
    ) -> Lineage | None:
        if not 1 <= limit <= lineage_query.DEFAULT_LIMIT:
            raise InvalidArgument(
                f"'limit' must be between 1 and {lineage_query.DEFAULT_LIMIT}, got {limit}"
            )
        answer = await asyncio.to_thread(
            lineage_query.lineage, info.context.store, str(id),
            "UP" if direction is LineageDirection.UP else "DOWN", depth, limit,
        )
        return Lineage(answer=answer)

    @field(
        description="Where the dataset and everything DOWN-lineage of it (read, produced, "
        "derived_from) was processed (sites of the jobs that read it) and held (replicas, "
        "any time), with each site's jurisdiction; violations: places outside 'allowed'."
    )
    async def data_residency(
        self, info: Info, dataset_id: strawberry.ID, allowed: list[str]
    ) -> DataResidency | None:
        answer = await asyncio.to_thread(
            residency_query.data_residency, info.context.store, str(dataset_id), allowed
        )
        return DataResidency(answer=answer)
