"""Work: jobs, the applications they belong to, the users who launch them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import NODE, Node, node_class
from fleetgraph.serving.types.props import PropFields
from fleetgraph.serving.types.refs import (
    APPLICATION_KIND,
    GPU_KIND,
    JOB_KIND,
    MODEL_KIND,
    SERVER_KIND,
    SITE_KIND,
    USER_KIND,
    GpuRef,
    ModelRef,
    ServerRef,
    SiteRef,
)
from fleetgraph.serving.types.relations import IN, OUT, node_by_id, related, related_one

JOB = PropFields("job")
APPLICATION = PropFields("application")
USER = PropFields("user")


@node_class(JOB_KIND)
@strawberry.type(description=JOB.doc)
class Job(Node):
    kind: str | None = JOB("kind")
    status: str | None = JOB("status")
    gpus_requested: int | None = JOB("gpus_requested")
    submitted_at: datetime | None = JOB("submitted_at")
    started_at: datetime | None = JOB("started_at")
    finished_at: datetime | None = JOB("finished_at")
    site_id: str | None = JOB("site_id")
    region: str | None = JOB("region")
    jurisdiction: str | None = JOB("jurisdiction")
    exit_reason: str | None = JOB("exit_reason")

    @field(description="Servers the job ran on (ran_on).")
    async def servers(self, info: Info, at: datetime | None = None) -> list[ServerRef]:
        return await related(info, self.record.id, "ran_on", OUT, SERVER_KIND, at)

    @field(description="GPUs allocated to the job (allocated).")
    async def gpus(self, info: Info, at: datetime | None = None) -> list[GpuRef]:
        return await related(info, self.record.id, "allocated", OUT, GPU_KIND, at)

    @field(description="The site of the job's placement (its siteId).")
    async def site(self, info: Info) -> SiteRef | None:
        return await node_by_id(info, self.record.props.get("site_id"), SITE_KIND)

    @strawberry.field
    async def application(self, info: Info) -> Application | None:
        return await related_one(info, self.record.id, "owned_by", OUT, APPLICATION_KIND)

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        return await related_one(info, self.record.id, "launched_by", OUT, USER_KIND)

    @strawberry.field
    async def model(self, info: Info) -> ModelRef | None:
        return await related_one(info, self.record.id, "used_model", OUT, MODEL_KIND)

    @field(description="Datasets and artifacts the job read.")
    async def inputs(self, info: Info) -> list[Node]:
        return await related(info, self.record.id, "read", OUT, NODE)

    @field(description="Artifacts, datasets and models the job produced.")
    async def outputs(self, info: Info) -> list[Node]:
        return await related(info, self.record.id, "produced", OUT, NODE)


@node_class(APPLICATION_KIND)
@strawberry.type(description=APPLICATION.doc)
class Application(Node):
    name: str | None = APPLICATION("name")

    @strawberry.field
    async def jobs(self, info: Info) -> list[Job]:
        return await related(info, self.record.id, "owned_by", IN, JOB_KIND)


@node_class(USER_KIND)
@strawberry.type(description=USER.doc)
class User(Node):
    name: str | None = USER("name")
    org: str | None = USER("org")

    @strawberry.field
    async def jobs(self, info: Info) -> list[Job]:
        return await related(info, self.record.id, "launched_by", IN, JOB_KIND)
