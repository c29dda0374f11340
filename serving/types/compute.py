"""Compute: servers (compute trays) and their GPUs."""

from __future__ import annotations

from datetime import datetime

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import Node, node_class
from fleetgraph.serving.types.props import PropFields
from fleetgraph.serving.types.refs import (
    FAULT_KIND,
    GPU_KIND,
    JOB_KIND,
    RACK_KIND,
    SERVER_KIND,
    FaultRef,
    JobRef,
    RackRef,
)
from fleetgraph.serving.types.relations import IN, OUT, related, related_one

SERVER = PropFields("server")
GPU = PropFields("gpu")


@node_class(SERVER_KIND)
@strawberry.type(description=SERVER.doc)
class Server(Node):
    model: str | None = SERVER("model")
    gpu_count: int | None = SERVER("gpu_count")
    status: str | None = SERVER("status")

    @strawberry.field
    async def rack(self, info: Info, at: datetime | None = None) -> RackRef | None:
        return await related_one(info, self.record.id, "in_rack", OUT, RACK_KIND, at)

    @strawberry.field
    async def gpus(self, info: Info, at: datetime | None = None) -> list[Gpu]:
        return await related(info, self.record.id, "in_server", IN, GPU_KIND, at)

    @field(description="Jobs placed on the server (ran_on in).")
    async def jobs(self, info: Info, at: datetime | None = None) -> list[JobRef]:
        return await related(info, self.record.id, "ran_on", IN, JOB_KIND, at)

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, FAULT_KIND, at)


@node_class(GPU_KIND)
@strawberry.type(description=GPU.doc)
class Gpu(Node):
    model: str | None = GPU("model")
    memory_gb: int | None = GPU("memory_gb")
    status: str | None = GPU("status")
    temperature_c: float | None = GPU("temperature_c")
    power_w: float | None = GPU("power_w")
    utilization: float | None = GPU("utilization")

    @strawberry.field
    async def server(self, info: Info, at: datetime | None = None) -> Server | None:
        return await related_one(info, self.record.id, "in_server", OUT, SERVER_KIND, at)

    @field(description="Jobs the GPU was allocated to (allocated in).")
    async def jobs(self, info: Info, at: datetime | None = None) -> list[JobRef]:
        return await related(info, self.record.id, "allocated", IN, JOB_KIND, at)

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, FAULT_KIND, at)
