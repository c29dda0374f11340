"""Incident investigation: which jobs a failed component touched, what else its failure
takes down (blast radius), what happened to it over time, and how two nodes connect."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import strawberry

from fleetgraph.serving import queries
from fleetgraph.serving.context import Info
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.queries import blast_radius as blast
from fleetgraph.serving.queries import paths, timeline
from fleetgraph.serving.queries.affected_jobs import DEFAULT_LIMIT
from fleetgraph.serving.times import to_us
from fleetgraph.serving.types.blast import BlastRadius
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.incidents import AffectedJobsResult, TimelineItem
from fleetgraph.serving.types.paths import PathResult
from fleetgraph.serving.windows import between


def _checked_limit(limit: int) -> int:
    if not 1 <= limit <= DEFAULT_LIMIT:
        raise InvalidArgument(f"'limit' must be between 1 and {DEFAULT_LIMIT}, got {limit}")
    return limit


@strawberry.type
class IncidentQuery:
    @field(
        description="Jobs that ran on hardware depending on the component (cdu, power_shelf, "
        "switch, rack, server, gpu or site) while it was in fault within [from, to); see "
        "docs/queries.md."
    )
    async def affected_jobs(
        self,
        info: Info,
        component_id: strawberry.ID,
        start: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        end: Annotated[datetime | None, strawberry.argument(name="to")] = None,
        limit: int = DEFAULT_LIMIT,
    ) -> AffectedJobsResult | None:
        _checked_limit(limit)
        answer = await info.context.reads.run(
            "affectedJobs", queries.affected_jobs, info.context.store, component_id,
            between(start, end), limit)
        return AffectedJobsResult.of(answer)

    @field(
        description="What a failure of the component at 'at' (default now) takes down or "
        "degrades, along cooling, power, network and containment dependencies, with "
        "redundancy; see docs/queries.md."
    )
    async def blast_radius(
        self,
        info: Info,
        component_id: strawberry.ID,
        at: datetime | None = None,
        limit: int = blast.DEFAULT_LIMIT,
    ) -> BlastRadius | None:
        _checked_limit(limit)
        at_us = to_us(at)
        if at_us is None:
            at_us = info.context.clock()
        answer = await info.context.reads.run(
            "blastRadius", blast.blast_radius, info.context.store, component_id, at_us, limit
        )
        return BlastRadius(answer=answer, component=component_id, at_us=at_us)

    @field(
        description="Everything that happened to the component within [from, to), oldest "
        "first: faults, links, jobs and affected jobs; see docs/queries.md."
    )
    async def component_timeline(
        self,
        info: Info,
        component_id: strawberry.ID,
        start: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        end: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    ) -> list[TimelineItem]:
        items = await asyncio.to_thread(
            timeline.component_timeline,
            info.context.store,
            component_id,
            between(start, end),
            registry=info.context.registry,
        )
        return [TimelineItem(item=i) for i in items]

    @field(
        description=f"A shortest path over the edge types, walked both ways, of at most "
        f"'maxDepth' hops (at most {paths.MAX_DEPTH}); ties by smallest ids at each hop; "
        "with 'at', only the edges the graph held at that time."
    )
    async def path(
        self,
        info: Info,
        from_id: strawberry.ID,
        to_id: strawberry.ID,
        edge_types: list[str],
        max_depth: int = paths.DEFAULT_DEPTH,
        at: datetime | None = None,
    ) -> PathResult | None:
        answer = await asyncio.to_thread(
            paths.shortest_path,
            info.context.store,
            from_id,
            to_id,
            edge_types,
            max_depth,
            at_us=to_us(at),
            registry=info.context.registry,
        )
        return PathResult(answer=answer)
