"""Artifacts: models, content-addressed blobs, datasets, and their replicas at sites."""

from __future__ import annotations

from datetime import datetime

import strawberry

from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.graph_model.types import VALID_FROM, VALID_TO
from fleetgraph.serving.context import Info
from fleetgraph.serving.times import to_datetime
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import NODE, Node, load_node, node_class
from fleetgraph.serving.types.origin import Origin
from fleetgraph.serving.types.props import PropFields
from fleetgraph.serving.types.refs import (
    ARTIFACT_KIND,
    DATASET_KIND,
    JOB_KIND,
    MODEL_KIND,
    SITE_KIND,
    JobRef,
    SiteRef,
)
from fleetgraph.serving.types.relations import IN, OUT, edges, node_by_id, related, related_one
from fleetgraph.serving.types.scalars import Long
from fleetgraph.serving.windows import as_of
from fleetgraph.storage.base import Direction

MODEL = PropFields("model")
ARTIFACT = PropFields("artifact")
DATASET = PropFields("dataset")


@strawberry.type(description="A replica of an artifact or dataset at a site (a cached_at edge).")
class Replica:
    record: strawberry.Private[EdgeRecord]

    @strawberry.field
    def artifact_id(self) -> strawberry.ID:
        return strawberry.ID(self.record.from_id)

    @strawberry.field
    def site_id(self) -> strawberry.ID:
        return strawberry.ID(self.record.to_id)

    @field(description="The artifact or dataset replicated.")
    async def artifact(self, info: Info) -> Node | None:
        return await load_node(info, self.record.from_id)

    @strawberry.field
    async def site(self, info: Info) -> SiteRef | None:
        return await node_by_id(info, self.record.to_id, SITE_KIND)

    @field(description="0 hot (local NVMe), 1 warm (site object store), 2 durable.")
    def tier(self) -> int | None:
        tier: int | None = self.record.props.get("tier")
        return tier

    @strawberry.field
    def last_access(self) -> datetime | None:
        return to_datetime(self.record.props.get("last_access"))

    @strawberry.field
    def hits(self) -> Long | None:
        hits: int | None = self.record.props.get("hits")
        return None if hits is None else Long(hits)

    @strawberry.field
    def valid_from(self) -> datetime | None:
        return to_datetime(self.record.props.get(VALID_FROM))

    @strawberry.field
    def valid_to(self) -> datetime | None:
        return to_datetime(self.record.props.get(VALID_TO))

    @strawberry.field
    def origin(self) -> Origin | None:
        return Origin.of(self.record.origin)


async def replicas(
    info: Info, node_id: str, direction: Direction, at: datetime | None
) -> list[Replica]:
    """Replicas of an artifact (direction OUT) or held by a site (IN)."""
    found = await edges(info, node_id, "cached_at", direction, as_of(at))
    return [Replica(record=e) for e in found]


# --- lineage: the relationships models, artifacts and datasets share, declared once;
# each class places them among its own fields (the schema keeps that order)


async def resolve_derived_from(root: Node, info: Info) -> list[Node]:
    """What the node was built from (derived_from out): artifacts, datasets, models."""
    return await related(info, root.record.id, "derived_from", OUT, NODE)


async def resolve_produced_by(root: Node, info: Info) -> list[JobRef]:
    """The jobs that produced the node (produced in)."""
    return await related(info, root.record.id, "produced", IN, JOB_KIND)


async def resolve_read_by(root: Node, info: Info) -> list[JobRef]:
    """The jobs that read the node (read in)."""
    return await related(info, root.record.id, "read", IN, JOB_KIND)


async def resolve_cached_at(root: Node, info: Info, at: datetime | None = None) -> list[Replica]:
    """The node's replicas at sites (cached_at out)."""
    return await replicas(info, root.record.id, OUT, at)


@node_class(MODEL_KIND)
@strawberry.type(description=MODEL.doc)
class Model(Node):
    name: str | None = MODEL("name")
    family: str | None = MODEL("family")
    params_b: float | None = MODEL("params_b")

    @field(description="The model's weights, adapters and checkpoints.")
    async def artifacts(self, info: Info) -> list[Artifact]:
        return await related(info, self.record.id, "artifact_of", IN, ARTIFACT_KIND)

    @field(description="Jobs that served or trained the model (used_model in).")
    async def jobs(self, info: Info) -> list[JobRef]:
        return await related(info, self.record.id, "used_model", IN, JOB_KIND)

    derived_from = strawberry.field(resolver=resolve_derived_from)
    produced_by = strawberry.field(resolver=resolve_produced_by)


@node_class(ARTIFACT_KIND)
@strawberry.type(description=ARTIFACT.doc)
class Artifact(Node):
    kind: str | None = ARTIFACT("kind")
    content_hash: str | None = ARTIFACT("content_hash")
    size_bytes: Long | None = ARTIFACT("size_bytes")
    created_at: datetime | None = ARTIFACT("created_at")

    @strawberry.field
    async def model(self, info: Info) -> Model | None:
        return await related_one(info, self.record.id, "artifact_of", OUT, MODEL_KIND)

    cached_at = strawberry.field(
        resolver=resolve_cached_at,
        description="Replicas at sites, with tier, last access and hits.",
    )
    derived_from = strawberry.field(resolver=resolve_derived_from)
    produced_by = strawberry.field(resolver=resolve_produced_by)
    read_by = strawberry.field(resolver=resolve_read_by)


@node_class(DATASET_KIND)
@strawberry.type(description=DATASET.doc)
class Dataset(Node):
    name: str | None = DATASET("name")
    content_hash: str | None = DATASET("content_hash")
    size_bytes: Long | None = DATASET("size_bytes")
    jurisdiction: str | None = DATASET("jurisdiction")
    created_at: datetime | None = DATASET("created_at")

    read_by = strawberry.field(
        resolver=resolve_read_by, description="Jobs that read the dataset (read in)."
    )
    cached_at = strawberry.field(resolver=resolve_cached_at)
    derived_from = strawberry.field(resolver=resolve_derived_from)
    produced_by = strawberry.field(resolver=resolve_produced_by)
