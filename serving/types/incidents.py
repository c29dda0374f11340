"""The answers of affectedJobs and componentTimeline, with the ids and the nodes of each
result."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from fleetgraph.serving import queries
from fleetgraph.serving.context import Info
from fleetgraph.serving.queries import timeline
from fleetgraph.serving.times import to_datetime
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import Node, load_node
from fleetgraph.serving.types.refs import (
    FAULT_KIND,
    JOB_KIND,
    RACK_KIND,
    SERVER_KIND,
    SITE_KIND,
    FaultRef,
    JobRef,
    RackRef,
    ServerRef,
    SiteRef,
)
from fleetgraph.serving.types.relations import node_by_id


@strawberry.type(description="A job that ran on a server depending on a component in fault.")
class AffectedJob:
    """The ids and times are plain attributes, set from the row: strawberry reads them
    without a resolver call each (per field, the resolver path cost more than the
    store's read of the row)."""

    row: strawberry.Private[queries.AffectedJob]
    job_id: strawberry.ID
    fault_id: strawberry.ID
    server_id: strawberry.ID
    rack_id: strawberry.ID | None
    site_id: strawberry.ID | None
    overlap_from: datetime | None = strawberry.field(
        description="Start of the overlap of job, fault and dependencies (null: unbounded).")
    overlap_to: datetime | None = strawberry.field(
        description="End of the overlap (null: still open).")

    @classmethod
    def of(cls, row: queries.AffectedJob) -> AffectedJob:
        return cls(row=row, job_id=strawberry.ID(row.job_id),
                   fault_id=strawberry.ID(row.fault_id), server_id=strawberry.ID(row.server_id),
                   rack_id=None if row.rack_id is None else strawberry.ID(row.rack_id),
                   site_id=None if row.site_id is None else strawberry.ID(row.site_id),
                   overlap_from=to_datetime(row.overlap_from),
                   overlap_to=to_datetime(row.overlap_to))

    @strawberry.field
    async def job(self, info: Info) -> JobRef | None:
        return await node_by_id(info, self.row.job_id, JOB_KIND)

    @strawberry.field
    async def fault(self, info: Info) -> FaultRef | None:
        return await node_by_id(info, self.row.fault_id, FAULT_KIND)

    @strawberry.field
    async def server(self, info: Info) -> ServerRef | None:
        return await node_by_id(info, self.row.server_id, SERVER_KIND)

    @strawberry.field
    async def rack(self, info: Info) -> RackRef | None:
        return await node_by_id(info, self.row.rack_id, RACK_KIND)

    @strawberry.field
    async def site(self, info: Info) -> SiteRef | None:
        return await node_by_id(info, self.row.site_id, SITE_KIND)


@strawberry.type
class AffectedJobsResult:
    items: list[AffectedJob]
    truncated: bool = strawberry.field(
        description="True when the limit cut the answer short (items holds the first ones)."
    )

    @classmethod
    def of(cls, answer: queries.AffectedJobs) -> AffectedJobsResult:
        return cls(items=[AffectedJob.of(r) for r in answer.items], truncated=answer.truncated)


@strawberry.enum(description="What happened to a component (see componentTimeline).")
class TimelineKind(Enum):
    FAULT_OPENED = "FAULT_OPENED"
    FAULT_CLEARED = "FAULT_CLEARED"
    LINKED = "LINKED"
    UNLINKED = "UNLINKED"
    JOB_STARTED = "JOB_STARTED"
    JOB_ENDED = "JOB_ENDED"
    JOB_AFFECTED = "JOB_AFFECTED"


@strawberry.type(description="One thing that happened to a component, with the other end.")
class TimelineItem:
    item: strawberry.Private[timeline.TimelineItem]

    @strawberry.field
    def time(self) -> datetime:
        at = to_datetime(self.item.time)
        assert at is not None
        return at

    @strawberry.field
    def kind(self) -> TimelineKind:
        return TimelineKind(self.item.kind.value)

    @field(description="The fault, the linked node or the job.")
    def other_id(self) -> strawberry.ID:
        return strawberry.ID(self.item.other_id)

    @strawberry.field
    def edge_type(self) -> str:
        return self.item.edge_type

    @strawberry.field
    async def other(self, info: Info) -> Node | None:
        return await load_node(info, self.item.other_id)
