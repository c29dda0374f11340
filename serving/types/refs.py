"""Lazy references between the node classes of different modules (they refer to
each other: a rack's servers, a server's rack): the ``...Ref`` types for strawberry,
the ``..._KIND`` node kinds for the relationship helpers and the type checker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from fleetgraph.serving.types.node import NodeKind

if TYPE_CHECKING:
    from fleetgraph.serving.types.artifacts import Artifact, Dataset, Model, Replica
    from fleetgraph.serving.types.compute import Gpu, Server
    from fleetgraph.serving.types.power_cooling import Cdu, Fault, PowerShelf
    from fleetgraph.serving.types.sites import Instrument, Rack, Site, Switch
    from fleetgraph.serving.types.work import Application, Job, User

_ARTIFACTS = strawberry.lazy("fleetgraph.serving.types.artifacts")
_COMPUTE = strawberry.lazy("fleetgraph.serving.types.compute")
_POWER_COOLING = strawberry.lazy("fleetgraph.serving.types.power_cooling")
_SITES = strawberry.lazy("fleetgraph.serving.types.sites")
_WORK = strawberry.lazy("fleetgraph.serving.types.work")

ArtifactRef = Annotated["Artifact", _ARTIFACTS]
DatasetRef = Annotated["Dataset", _ARTIFACTS]
ModelRef = Annotated["Model", _ARTIFACTS]
ReplicaRef = Annotated["Replica", _ARTIFACTS]
GpuRef = Annotated["Gpu", _COMPUTE]
ServerRef = Annotated["Server", _COMPUTE]
CduRef = Annotated["Cdu", _POWER_COOLING]
FaultRef = Annotated["Fault", _POWER_COOLING]
PowerShelfRef = Annotated["PowerShelf", _POWER_COOLING]
InstrumentRef = Annotated["Instrument", _SITES]
RackRef = Annotated["Rack", _SITES]
SiteRef = Annotated["Site", _SITES]
SwitchRef = Annotated["Switch", _SITES]
ApplicationRef = Annotated["Application", _WORK]
JobRef = Annotated["Job", _WORK]
UserRef = Annotated["User", _WORK]

# one kind per typed node class, bound by its ``node_class`` decorator
ARTIFACT_KIND: NodeKind[Artifact] = NodeKind("artifact")
DATASET_KIND: NodeKind[Dataset] = NodeKind("dataset")
MODEL_KIND: NodeKind[Model] = NodeKind("model")
GPU_KIND: NodeKind[Gpu] = NodeKind("gpu")
SERVER_KIND: NodeKind[Server] = NodeKind("server")
CDU_KIND: NodeKind[Cdu] = NodeKind("cdu")
FAULT_KIND: NodeKind[Fault] = NodeKind("fault")
POWER_SHELF_KIND: NodeKind[PowerShelf] = NodeKind("power_shelf")
INSTRUMENT_KIND: NodeKind[Instrument] = NodeKind("instrument")
RACK_KIND: NodeKind[Rack] = NodeKind("rack")
SITE_KIND: NodeKind[Site] = NodeKind("site")
SWITCH_KIND: NodeKind[Switch] = NodeKind("switch")
APPLICATION_KIND: NodeKind[Application] = NodeKind("application")
JOB_KIND: NodeKind[Job] = NodeKind("job")
USER_KIND: NodeKind[User] = NodeKind("user")
