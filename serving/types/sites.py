"""Sites and what is installed in them: racks, switches, attached instruments."""

from __future__ import annotations

from datetime import datetime

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.types.artifacts import replicas
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import Node, node_class
from fleetgraph.serving.types.props import PropFields
from fleetgraph.serving.types.refs import (
    CDU_KIND,
    FAULT_KIND,
    INSTRUMENT_KIND,
    POWER_SHELF_KIND,
    RACK_KIND,
    SERVER_KIND,
    SITE_KIND,
    SWITCH_KIND,
    CduRef,
    FaultRef,
    PowerShelfRef,
    ReplicaRef,
    ServerRef,
)
from fleetgraph.serving.types.relations import IN, OUT, related, related_one

SITE = PropFields("site")
RACK = PropFields("rack")
SWITCH = PropFields("switch")
INSTRUMENT = PropFields("instrument")


@node_class(SITE_KIND)
@strawberry.type(description=SITE.doc)
class Site(Node):
    name: str | None = SITE("name")
    region: str | None = SITE("region")
    jurisdiction: str | None = SITE("jurisdiction")
    design: str | None = SITE("design")
    capacity_kw: float | None = SITE("capacity_kw")
    status: str | None = SITE("status")
    power_headroom_kw: float | None = SITE("power_headroom_kw")
    thermal_headroom_kw: float | None = SITE("thermal_headroom_kw")
    battery_soc: float | None = SITE("battery_soc")
    solar_kw: float | None = SITE("solar_kw")

    @strawberry.field
    async def racks(self, info: Info, at: datetime | None = None) -> list[Rack]:
        return await related(info, self.record.id, "in_site", IN, RACK_KIND, at)

    @strawberry.field
    async def cdus(self, info: Info, at: datetime | None = None) -> list[CduRef]:
        return await related(info, self.record.id, "in_site", IN, CDU_KIND, at)

    @strawberry.field
    async def power_shelves(self, info: Info, at: datetime | None = None) -> list[PowerShelfRef]:
        return await related(info, self.record.id, "in_site", IN, POWER_SHELF_KIND, at)

    @strawberry.field
    async def switches(self, info: Info, at: datetime | None = None) -> list[Switch]:
        return await related(info, self.record.id, "in_site", IN, SWITCH_KIND, at)

    @strawberry.field
    async def instruments(self, info: Info, at: datetime | None = None) -> list[Instrument]:
        return await related(info, self.record.id, "attached_to", IN, INSTRUMENT_KIND, at)

    @field(description="Replicas of artifacts and datasets held at the site.")
    async def cached_artifacts(
        self, info: Info, at: datetime | None = None
    ) -> list[ReplicaRef]:
        return await replicas(info, self.record.id, IN, at)

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, FAULT_KIND, at)


@node_class(RACK_KIND)
@strawberry.type(description=RACK.doc)
class Rack(Node):
    capacity_kw: float | None = RACK("capacity_kw")
    gpu_generation: str | None = RACK("gpu_generation")
    status: str | None = RACK("status")

    @strawberry.field
    async def site(self, info: Info, at: datetime | None = None) -> Site | None:
        return await related_one(info, self.record.id, "in_site", OUT, SITE_KIND, at)

    @field(description="CDUs cooling the rack (cooled_by).")
    async def cdus(self, info: Info, at: datetime | None = None) -> list[CduRef]:
        return await related(info, self.record.id, "cooled_by", OUT, CDU_KIND, at)

    @field(description="Power shelves feeding the rack (powered_by).")
    async def power_shelves(self, info: Info, at: datetime | None = None) -> list[PowerShelfRef]:
        return await related(info, self.record.id, "powered_by", OUT, POWER_SHELF_KIND, at)

    @strawberry.field
    async def servers(self, info: Info, at: datetime | None = None) -> list[ServerRef]:
        return await related(info, self.record.id, "in_rack", IN, SERVER_KIND, at)

    @strawberry.field
    async def switches(self, info: Info, at: datetime | None = None) -> list[Switch]:
        return await related(info, self.record.id, "in_rack", IN, SWITCH_KIND, at)

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, FAULT_KIND, at)


@node_class(SWITCH_KIND)
@strawberry.type(description=SWITCH.doc)
class Switch(Node):
    role: str | None = SWITCH("role")
    status: str | None = SWITCH("status")

    @strawberry.field
    async def site(self, info: Info, at: datetime | None = None) -> Site | None:
        return await related_one(info, self.record.id, "in_site", OUT, SITE_KIND, at)

    @strawberry.field
    async def rack(self, info: Info, at: datetime | None = None) -> Rack | None:
        return await related_one(info, self.record.id, "in_rack", OUT, RACK_KIND, at)

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, FAULT_KIND, at)


@node_class(INSTRUMENT_KIND)
@strawberry.type(description=INSTRUMENT.doc)
class Instrument(Node):
    kind: str | None = INSTRUMENT("kind")
    status: str | None = INSTRUMENT("status")

    @field(description="The nearby site the instrument is attached to.")
    async def site(self, info: Info, at: datetime | None = None) -> Site | None:
        return await related_one(info, self.record.id, "attached_to", OUT, SITE_KIND, at)

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, FAULT_KIND, at)
