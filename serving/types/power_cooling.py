"""What racks depend on: CDUs (cooling), power shelves (power), and their faults."""

from __future__ import annotations

from datetime import datetime

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import NODE, Node, node_class
from fleetgraph.serving.types.props import PropFields
from fleetgraph.serving.types.refs import (
    CDU_KIND,
    FAULT_KIND,
    POWER_SHELF_KIND,
    RACK_KIND,
    SITE_KIND,
    RackRef,
    SiteRef,
)
from fleetgraph.serving.types.relations import IN, OUT, related, related_one

CDU = PropFields("cdu")
POWER_SHELF = PropFields("power_shelf")
FAULT = PropFields("fault")


@node_class(CDU_KIND)
@strawberry.type(description=CDU.doc)
class Cdu(Node):
    capacity_kw: float | None = CDU("capacity_kw")
    status: str | None = CDU("status")
    supply_temp_c: float | None = CDU("supply_temp_c")
    flow_lpm: float | None = CDU("flow_lpm")

    @strawberry.field
    async def site(self, info: Info, at: datetime | None = None) -> SiteRef | None:
        return await related_one(info, self.record.id, "in_site", OUT, SITE_KIND, at)

    @field(description="Racks the CDU cools (cooled_by in).")
    async def racks(self, info: Info, at: datetime | None = None) -> list[RackRef]:
        return await related(info, self.record.id, "cooled_by", IN, RACK_KIND, at)

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[Fault]:
        return await related(info, self.record.id, "had_fault", OUT, FAULT_KIND, at)


@node_class(POWER_SHELF_KIND)
@strawberry.type(description=POWER_SHELF.doc)
class PowerShelf(Node):
    capacity_kw: float | None = POWER_SHELF("capacity_kw")
    status: str | None = POWER_SHELF("status")
    output_kw: float | None = POWER_SHELF("output_kw")

    @strawberry.field
    async def site(self, info: Info, at: datetime | None = None) -> SiteRef | None:
        return await related_one(info, self.record.id, "in_site", OUT, SITE_KIND, at)

    @field(description="Racks the shelf feeds (powered_by in).")
    async def racks(self, info: Info, at: datetime | None = None) -> list[RackRef]:
        return await related(info, self.record.id, "powered_by", IN, RACK_KIND, at)

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[Fault]:
        return await related(info, self.record.id, "had_fault", OUT, FAULT_KIND, at)


@node_class(FAULT_KIND)
@strawberry.type(description=FAULT.doc)
class Fault(Node):
    component_id: str | None = FAULT("component_id")
    code: str | None = FAULT("code")
    severity: str | None = FAULT("severity")
    site_id: str | None = FAULT("site_id")
    affected_racks: str | None = FAULT("affected_racks")
    valid_from: datetime | None = FAULT("valid_from")
    valid_to: datetime | None = FAULT("valid_to")

    @field(description="The component in fault (had_fault in).")
    async def component(self, info: Info) -> Node | None:
        return await related_one(info, self.record.id, "had_fault", IN, NODE)
