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


@node_class("site")
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
        return await related(info, self.record.id, "in_site", IN, at, "rack")

    @strawberry.field
    async def cdus(self, info: Info, at: datetime | None = None) -> list[CduRef]:
        return await related(info, self.record.id, "in_site", IN, at, "cdu")

    @strawberry.field
    async def power_shelves(self, info: Info, at: datetime | None = None) -> list[PowerShelfRef]:
        return await related(info, self.record.id, "in_site", IN, at, "power_shelf")

    @strawberry.field
    async def switches(self, info: Info, at: datetime | None = None) -> list[Switch]:
        return await related(info, self.record.id, "in_site", IN, at, "switch")

    @strawberry.field
    async def instruments(self, info: Info, at: datetime | None = None) -> list[Instrument]:
        return await related(info, self.record.id, "attached_to", IN, at)

    @field(description="Replicas of artifacts and datasets held at the site.")
    async def cached_artifacts(
        self, info: Info, at: datetime | None = None
    ) -> list[ReplicaRef]:
        return await replicas(info, self.record.id, IN, at)

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, at)


@node_class("rack")
@strawberry.type(description=RACK.doc)
class Rack(Node):
    capacity_kw: float | None = RACK("capacity_kw")
    gpu_generation: str | None = RACK("gpu_generation")
    status: str | None = RACK("status")

    @strawberry.field
    async def site(self, info: Info, at: datetime | None = None) -> Site | None:
        found: Site | None = await related_one(info, self.record.id, "in_site", OUT, at)
        return found

    @field(description="CDUs cooling the rack (cooled_by).")
    async def cdus(self, info: Info, at: datetime | None = None) -> list[CduRef]:
        return await related(info, self.record.id, "cooled_by", OUT, at)

    @field(description="Power shelves feeding the rack (powered_by).")
    async def power_shelves(self, info: Info, at: datetime | None = None) -> list[PowerShelfRef]:
        return await related(info, self.record.id, "powered_by", OUT, at)

    @strawberry.field
    async def servers(self, info: Info, at: datetime | None = None) -> list[ServerRef]:
        return await related(info, self.record.id, "in_rack", IN, at, "server")

    @strawberry.field
    async def switches(self, info: Info, at: datetime | None = None) -> list[Switch]:
        return await related(info, self.record.id, "in_rack", IN, at, "switch")

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, at)


@node_class("switch")
@strawberry.type(description=SWITCH.doc)
class Switch(Node):
    role: str | None = SWITCH("role")
    status: str | None = SWITCH("status")

    @strawberry.field
    async def site(self, info: Info, at: datetime | None = None) -> Site | None:
        found: Site | None = await related_one(info, self.record.id, "in_site", OUT, at)
        return found

    @strawberry.field
    async def rack(self, info: Info, at: datetime | None = None) -> Rack | None:
        found: Rack | None = await related_one(info, self.record.id, "in_rack", OUT, at)
        return found

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, at)


@node_class("instrument")
@strawberry.type(description=INSTRUMENT.doc)
class Instrument(Node):
    kind: str | None = INSTRUMENT("kind")
    status: str | None = INSTRUMENT("status")

    @field(description="The nearby site the instrument is attached to.")
    async def site(self, info: Info, at: datetime | None = None) -> Site | None:
        found: Site | None = await related_one(info, self.record.id, "attached_to", OUT, at)
        return found

    @strawberry.field
    async def faults(self, info: Info, at: datetime | None = None) -> list[FaultRef]:
        return await related(info, self.record.id, "had_fault", OUT, at)
