"""Compliance audits: lineage of data and models, and where data went."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.queries import lineage as lineage_query
from fleetgraph.serving.queries import residency as residency_query
from fleetgraph.serving.times import to_us
from fleetgraph.serving.types.audit import (
    DataResidency,
    DataResidencySummary,
    Lineage,
    LineageDirection,
)
from fleetgraph.serving.types.field import field
from fleetgraph.serving.windows import between


@strawberry.type
class AuditQuery:
    @field(
        description="UP: where an artifact, model or dataset came from (derived_from, "
        "artifact_of, the jobs that produced it, their inputs, model, user, application, "
        "site and jurisdiction); DOWN: what flowed from it. 'depth' counts edges (at most "
        f"{lineage_query.MAX_DEPTH}); at most 'limit' nodes; with 'at', only the edges the "
        "graph held at that time. See docs/queries.md."
    )
    async def lineage(
        self,
        info: Info,
        id: strawberry.ID,
        direction: LineageDirection,
        depth: int = lineage_query.DEFAULT_DEPTH,
        limit: int = lineage_query.DEFAULT_LIMIT,
        at: datetime | None = None,
    ) -> Lineage | None:
        if not 1 <= limit <= lineage_query.DEFAULT_LIMIT:
            raise InvalidArgument(
                f"'limit' must be between 1 and {lineage_query.DEFAULT_LIMIT}, got {limit}"
            )
        answer = await info.context.reads.run(
            "lineage", lineage_query.lineage, info.context.store, str(id),
            "UP" if direction is LineageDirection.UP else "DOWN", depth, limit, to_us(at),
        )
        return Lineage(answer=answer)

    @field(
        description="Where the dataset and everything DOWN-lineage of it (read, produced, "
        "derived_from) was processed (sites of the jobs that read it) and held (replicas, "
        "any time, or within [from, to)), with each site's jurisdiction; violations: places "
        "outside 'allowed'. See docs/queries.md."
    )
    async def data_residency(
        self,
        info: Info,
        dataset_id: strawberry.ID,
        allowed: list[str],
        start: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        end: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    ) -> DataResidency | None:
        window = None if start is None and end is None else between(start, end)
        answer = await info.context.reads.run(
            "dataResidency", residency_query.data_residency, info.context.store,
            str(dataset_id), allowed, residency_query.DEFAULT_LIMIT, window,
            info.context.clock(),
        )
        return DataResidency(answer=answer)

    @field(
        description="dataResidency bounded, for answers of thousands of places: the counts "
        "of items, places and violations, a summary per jurisdiction, and one page of "
        "'first' (at most 1000) places after the cursor 'after' (a page's nextAfter), by "
        "item then site; only the violations unless 'violationsOnly' is false. A page's "
        "places are the full answer's. See docs/queries.md."
    )
    async def data_residency_summary(
        self,
        info: Info,
        dataset_id: strawberry.ID,
        allowed: list[str],
        first: int = 100,
        after: str | None = None,
        violations_only: bool = True,
        start: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        end: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    ) -> DataResidencySummary | None:
        window = None if start is None and end is None else between(start, end)
        answer = await info.context.reads.run(
            "dataResidencySummary", residency_query.residency_summary, info.context.store,
            str(dataset_id), allowed, first, after, violations_only,
            residency_query.DEFAULT_LIMIT, window, info.context.clock(),
        )
        return DataResidencySummary(answer=answer)
