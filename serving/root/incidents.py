"""Incident investigation: which jobs a failed component touched."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import strawberry

from serving import queries
from serving.context import Info
from serving.errors import InvalidArgument
from serving.queries.affected_jobs import DEFAULT_LIMIT
from serving.types.field import field
from serving.types.incidents import AffectedJobsResult
from serving.windows import between


@strawberry.type
class IncidentQuery:
    @field(
        description="Jobs that ran on hardware depending on the component (cdu, power_shelf, "
        "rack, server or site) while it was in fault within [from, to); see docs/queries.md."
    )
    async def affected_jobs(
        self,
        info: Info,
        component_id: strawberry.ID,
        start: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        end: Annotated[datetime | None, strawberry.argument(name="to")] = None,
        limit: int = DEFAULT_LIMIT,
    ) -> AffectedJobsResult | None:
        if not 1 <= limit <= DEFAULT_LIMIT:
            raise InvalidArgument(f"'limit' must be between 1 and {DEFAULT_LIMIT}, got {limit}")
        answer = await asyncio.to_thread(
            queries.affected_jobs, info.context.store, component_id, between(start, end), limit
        )
        return AffectedJobsResult.of(answer)
