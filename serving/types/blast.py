"""The answer of blastRadius: what a failure takes down or degrades, and the jobs on it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import cast

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.queries import blast_radius as blast
from fleetgraph.serving.times import to_datetime
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import Node, load_node
from fleetgraph.serving.types.refs import JOB_KIND, SERVER_KIND, JobRef, ServerRef
from fleetgraph.serving.types.relations import node_by_id
from fleetgraph.serving.types.scalars import ids


@strawberry.enum(description="How much worse a failure makes a component.")
class Impact(Enum):
    DOWN = "DOWN"
    DEGRADED = "DEGRADED"


IMPACTS = {impact.value: impact for impact in Impact}  # Impact(value) without its call


@strawberry.type(description="A component the failure takes down or degrades.")
class ImpactedComponent:
    """Its scalars are plain attributes set from the item (strawberry's basic-field
    path: a blastRadius answer has thousands of them)."""

    item: strawberry.Private[blast.Impacted]
    id: strawberry.ID
    node_type: str = strawberry.field(name="type")
    impact: Impact = strawberry.field(
        description="DOWN: down with the failure, not without; DEGRADED: degraded with "
        "the failure, fine without.")
    dependency: str | None = strawberry.field(
        description="Why it is impacted: the kind of the path's first step that is not "
        "containment (cooling, power or network: a CDU's racks and everything in them say "
        "cooling), or containment when the failed component holds it.")
    path: list[strawberry.ID] | None = strawberry.field(
        description="Ids from the failed component to this one (breadth-first over "
        "dependents, smallest ids first); null when no walk reaches it.")

    @classmethod
    def of(cls, item: blast.Impacted) -> ImpactedComponent:
        # strawberry.ID is a NewType (it returns its argument): the path is copied whole
        path = None if item.path is None else cast(list[strawberry.ID], list(item.path))
        return cls(item=item, id=strawberry.ID(item.id), node_type=item.type,
                   impact=IMPACTS.get(item.impact) or Impact(item.impact),
                   dependency=item.dependency, path=path)

    @strawberry.field
    async def node(self, info: Info) -> Node | None:
        return await load_node(info, self.item.id)


@strawberry.type(description="A job running at that time on an impacted server.")
class ImpactedJob:
    row: strawberry.Private[blast.ImpactedJob]
    job_id: strawberry.ID
    server_id: strawberry.ID
    impact: Impact = strawberry.field(description="The impact on the server.")

    @classmethod
    def of(cls, row: blast.ImpactedJob) -> ImpactedJob:
        return cls(row=row, job_id=strawberry.ID(row.job_id),
                   server_id=strawberry.ID(row.server_id),
                   impact=IMPACTS.get(row.impact) or Impact(row.impact))

    @strawberry.field
    async def job(self, info: Info) -> JobRef | None:
        return await node_by_id(info, self.row.job_id, JOB_KIND)

    @strawberry.field
    async def server(self, info: Info) -> ServerRef | None:
        return await node_by_id(info, self.row.server_id, SERVER_KIND)


@strawberry.type(description="What a failure of the component changes at a time.")
class BlastRadius:
    answer: strawberry.Private[blast.BlastRadius]
    component: strawberry.Private[str]
    at_us: strawberry.Private[int]

    @strawberry.field
    def component_id(self) -> strawberry.ID:
        return strawberry.ID(self.component)

    @field(description="The time of the state (default: now).")
    def at(self) -> datetime:
        at = to_datetime(self.at_us)
        assert at is not None
        return at

    @field(description="DOWN first, then by id; at most 'limit'.")
    def items(self) -> list[ImpactedComponent]:
        return [ImpactedComponent.of(i) for i in self.answer.items]

    @field(description="Other components of the site(s) in fault at that time, by id.")
    def already_in_fault(self) -> list[strawberry.ID]:
        return ids(self.answer.already_in_fault)

    @field(description="Jobs running at that time on impacted servers, by job then server.")
    def jobs(self) -> list[ImpactedJob]:
        return [ImpactedJob.of(j) for j in self.answer.jobs]

    @field(description="True when the limit cut the items short.")
    def truncated(self) -> bool:
        return self.answer.truncated
