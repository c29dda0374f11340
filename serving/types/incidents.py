"""The answer of affectedJobs, with the ids and the nodes of each result."""

from __future__ import annotations

from datetime import datetime

import strawberry

from serving import queries
from serving.context import Info
from serving.times import to_datetime
from serving.types.field import field
from serving.types.refs import FaultRef, JobRef, RackRef, ServerRef, SiteRef
from serving.types.relations import node_by_id


@strawberry.type(description="A job that ran on a server depending on a component in fault.")
class AffectedJob:
    row: strawberry.Private[queries.AffectedJob]

    @strawberry.field
    def job_id(self) -> strawberry.ID:
        return strawberry.ID(self.row.job_id)

    @strawberry.field
    def fault_id(self) -> strawberry.ID:
        return strawberry.ID(self.row.fault_id)

    @strawberry.field
    def server_id(self) -> strawberry.ID:
        return strawberry.ID(self.row.server_id)

    @strawberry.field
    def rack_id(self) -> strawberry.ID | None:
        return None if self.row.rack_id is None else strawberry.ID(self.row.rack_id)

    @strawberry.field
    def site_id(self) -> strawberry.ID | None:
        return None if self.row.site_id is None else strawberry.ID(self.row.site_id)

    @field(description="Start of the overlap of job, fault and dependencies (null: unbounded).")
    def overlap_from(self) -> datetime | None:
        return to_datetime(self.row.overlap_from)

    @field(description="End of the overlap (null: still open).")
    def overlap_to(self) -> datetime | None:
        return to_datetime(self.row.overlap_to)

    @strawberry.field
    async def job(self, info: Info) -> JobRef | None:
        found: JobRef | None = await node_by_id(info, self.row.job_id)
        return found

    @strawberry.field
    async def fault(self, info: Info) -> FaultRef | None:
        found: FaultRef | None = await node_by_id(info, self.row.fault_id)
        return found

    @strawberry.field
    async def server(self, info: Info) -> ServerRef | None:
        found: ServerRef | None = await node_by_id(info, self.row.server_id)
        return found

    @strawberry.field
    async def rack(self, info: Info) -> RackRef | None:
        found: RackRef | None = await node_by_id(info, self.row.rack_id)
        return found

    @strawberry.field
    async def site(self, info: Info) -> SiteRef | None:
        found: SiteRef | None = await node_by_id(info, self.row.site_id)
        return found


@strawberry.type
class AffectedJobsResult:
    items: list[AffectedJob]
    truncated: bool = strawberry.field(
        description="True when the limit cut the answer short (items holds the first ones)."
    )

    @classmethod
    def of(cls, answer: queries.AffectedJobs) -> AffectedJobsResult:
        return cls(items=[AffectedJob(row=r) for r in answer.items], truncated=answer.truncated)
