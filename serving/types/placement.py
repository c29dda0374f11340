"""The answer of modelHotness: sites ranked by how hot a model's artifacts are there."""

from __future__ import annotations

from datetime import datetime

import strawberry

from serving import queries
from serving.context import Info
from serving.times import to_datetime
from serving.types.field import field
from serving.types.refs import ArtifactRef, SiteRef
from serving.types.relations import node_by_id


@strawberry.input(description="A half-open window [from, to).")
class WindowInput:
    start: datetime | None = strawberry.field(name="from", default=None)
    end: datetime | None = strawberry.field(name="to", default=None)


@strawberry.type(description="One replica of the model's artifacts at a site, and its score.")
class ReplicaEvidence:
    evidence: strawberry.Private[queries.ReplicaEvidence]

    @strawberry.field
    def artifact_id(self) -> strawberry.ID:
        return strawberry.ID(self.evidence.artifact_id)

    @strawberry.field
    async def artifact(self, info: Info) -> ArtifactRef | None:
        found: ArtifactRef | None = await node_by_id(info, self.evidence.artifact_id)
        return found

    @strawberry.field
    def tier(self) -> int | None:
        return self.evidence.tier

    @strawberry.field
    def last_access(self) -> datetime | None:
        return to_datetime(self.evidence.last_access)

    @strawberry.field
    def hits(self) -> int | None:
        return self.evidence.hits

    @field(description="tier weight * 0.5 ** (age / 6 h) * (1 + log2(1 + hits))")
    def score(self) -> float:
        return self.evidence.score


@strawberry.type(description="A site and how hot the model is there (sum of replica scores).")
class SiteHotness:
    hotness: strawberry.Private[queries.SiteHotness]

    @strawberry.field
    def site_id(self) -> strawberry.ID:
        return strawberry.ID(self.hotness.site_id)

    @strawberry.field
    async def site(self, info: Info) -> SiteRef | None:
        found: SiteRef | None = await node_by_id(info, self.hotness.site_id)
        return found

    @strawberry.field
    def score(self) -> float:
        return self.hotness.score

    @field(description="The replicas at the site, by artifact id.")
    def replicas(self) -> list[ReplicaEvidence]:
        return [ReplicaEvidence(evidence=r) for r in self.hotness.replicas]
