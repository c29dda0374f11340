"""The answers of modelHotness (sites where a model is hot) and placement (sites ranked
for a job, with their free GPUs by server, and the sites excluded)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from fleetgraph.serving import queries
from fleetgraph.serving.context import Info
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.queries import placement as placement_query
from fleetgraph.serving.times import to_datetime, to_us
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.refs import (
    ARTIFACT_KIND,
    SERVER_KIND,
    SITE_KIND,
    ArtifactRef,
    ServerRef,
    SiteRef,
)
from fleetgraph.serving.types.relations import node_by_id
from fleetgraph.serving.types.scalars import Long, ids


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
        return await node_by_id(info, self.evidence.artifact_id, ARTIFACT_KIND)

    @strawberry.field
    def tier(self) -> int | None:
        return self.evidence.tier

    @strawberry.field
    def last_access(self) -> datetime | None:
        return to_datetime(self.evidence.last_access)

    @strawberry.field
    def hits(self) -> Long | None:
        hits = self.evidence.hits
        return None if hits is None else Long(hits)

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
        return await node_by_id(info, self.hotness.site_id, SITE_KIND)

    @strawberry.field
    def score(self) -> float:
        return self.hotness.score

    @field(description="The replicas at the site, by artifact id.")
    def replicas(self) -> list[ReplicaEvidence]:
        return [ReplicaEvidence(evidence=r) for r in self.hotness.replicas]


# --- placement ------------------------------------------------------------------------


@strawberry.input(description="A job to place: GPUs (kept in one site), model, data, where.")
class PlacementInput:
    gpus: int = strawberry.field(description="GPUs the job needs, all in one site.")
    model_id: strawberry.ID | None = strawberry.field(
        default=None, description="The model whose weights the job loads (hot sites score)."
    )
    dataset_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Datasets (or artifacts) the job reads."
    )
    allowed_jurisdictions: list[str] | None = strawberry.field(
        default=None, description="When given, sites elsewhere are excluded."
    )
    preferred_region: str | None = strawberry.field(
        default=None, description="Sites in this region get +0.05."
    )
    at: datetime | None = strawberry.field(default=None, description="Default: now.")

    def to_request(self, servers_for: int | None = None, first: int | None = None,
                   excluded: bool = True) -> placement_query.PlacementRequest:
        """The query's request: ``at`` None (now) reads the read model; ``servers_for``:
        how many of the best candidates get their free GPUs by server (None: all);
        ``first``: how many of the best candidates are ranked out (None: all);
        ``excluded``: whether the excluded sites are listed."""
        return placement_query.PlacementRequest(
            gpus=self.gpus,
            model_id=None if self.model_id is None else str(self.model_id),
            dataset_ids=tuple(str(d) for d in self.dataset_ids),
            allowed_jurisdictions=None
            if self.allowed_jurisdictions is None
            else frozenset(self.allowed_jurisdictions),
            preferred_region=self.preferred_region,
            at_us=to_us(self.at) if self.at is not None else None,
            servers_for=servers_for,
            first=first,
            excluded=excluded,
        )


@strawberry.type(
    description="The unweighted parts of a site's score: score = 0.35 gpu + 0.15 health + "
    "0.25 model + 0.15 data + 0.10 energy + 0.05 region."
)
class ScoreParts:
    parts: strawberry.Private[placement_query.ScoreParts]

    @field(description="min(1, free GPUs / (2 * GPUs asked)).")
    def gpu(self) -> float:
        return self.parts.gpu

    @field(description="Healthy racks / racks of the site.")
    def health(self) -> float:
        return self.parts.health

    @field(description="The site's modelHotness score (24 h before 'at') / the best site's.")
    def model(self) -> float:
        return self.parts.model

    @field(description="Share of the datasets with a replica at the site at 'at'.")
    def data(self) -> float:
        return self.parts.data

    @field(description="Mean of power headroom / 1 MW, battery state of charge, solar / 500 kW.")
    def energy(self) -> float:
        return self.parts.energy

    @field(description="1 when the site is in the preferred region, else 0.")
    def region(self) -> float:
        return self.parts.region


@strawberry.type(description="Free GPUs of one server.")
class ServerGpus:
    group: strawberry.Private[placement_query.ServerGpus]

    @strawberry.field
    def server_id(self) -> strawberry.ID:
        return strawberry.ID(self.group.server_id)

    @strawberry.field
    async def server(self, info: Info) -> ServerRef | None:
        return await node_by_id(info, self.group.server_id, SERVER_KIND)

    @strawberry.field
    def gpu_ids(self) -> list[strawberry.ID]:
        return ids(self.group.gpu_ids)


@strawberry.type(description="A site where the job can run, its score and free GPUs.")
class Candidate:
    candidate: strawberry.Private[placement_query.Candidate]
    gpus: strawberry.Private[int]  # asked for

    @strawberry.field
    def site_id(self) -> strawberry.ID:
        return strawberry.ID(self.candidate.site_id)

    @strawberry.field
    async def site(self, info: Info) -> SiteRef | None:
        return await node_by_id(info, self.candidate.site_id, SITE_KIND)

    @strawberry.field
    def score(self) -> float:
        return self.candidate.score

    @strawberry.field
    def parts(self) -> ScoreParts:
        return ScoreParts(parts=self.candidate.parts)

    @field(description="Free GPUs at the site: on healthy racks, server and GPU not down, "
           "not allocated.")
    def free_gpu_count(self) -> int:
        return self.candidate.free_gpus

    @field(
        description="Free GPUs to place the job on, grouped by server (by server id): "
        "'limit' GPUs (default: the GPUs asked for) on as few servers as possible, leaving "
        "out 'exclude' (GPUs already claimed). One server when one has enough (the one "
        "with the fewest free GPUs that does), else servers with the most free GPUs first."
    )
    def free_gpus(
        self, limit: int | None = None, exclude: list[strawberry.ID] | None = None
    ) -> list[ServerGpus]:
        count = self.gpus if limit is None else limit
        if count < 1:
            raise InvalidArgument(f"'limit' must be at least 1, got {count}")
        chosen = placement_query.pick_gpus(
            self.candidate.servers, count, frozenset(str(g) for g in exclude or ())
        )
        return [ServerGpus(group=g) for g in chosen]


@strawberry.enum(description="Why a site cannot take the job.")
class ExclusionCode(Enum):
    JURISDICTION = "jurisdiction"
    CAPACITY = "capacity"


_CODES = {code.value: code for code in ExclusionCode}


@strawberry.type(description="One reason a site was excluded.")
class ExclusionReason:
    code: ExclusionCode
    detail: str


@strawberry.type(description="A site that cannot take the job, with the reasons.")
class ExcludedSite:
    excluded: strawberry.Private[placement_query.Excluded]

    @strawberry.field
    def site_id(self) -> strawberry.ID:
        return strawberry.ID(self.excluded.site_id)

    @strawberry.field
    async def site(self, info: Info) -> SiteRef | None:
        return await node_by_id(info, self.excluded.site_id, SITE_KIND)

    @strawberry.field
    def reasons(self) -> list[ExclusionReason]:
        return [ExclusionReason(code=_CODES[r.code], detail=r.detail)
                for r in self.excluded.reasons]

    @strawberry.field
    def free_gpu_count(self) -> int:
        return self.excluded.free_gpus


@strawberry.type(description="Sites ranked for a job, and the sites excluded.")
class PlacementAnswer:
    answer: strawberry.Private[placement_query.PlacementAnswer]

    @field(description="The instant the fleet was read at.")
    def at(self) -> datetime:
        value = to_datetime(self.answer.at_us)
        assert value is not None
        return value

    @field(description="By score, high first, then site id; 'first' keeps the best ones.")
    def candidates(self, first: int | None = None) -> list[Candidate]:
        if first is not None and first < 0:
            raise InvalidArgument(f"'first' must not be negative, got {first}")
        ranked = self.answer.candidates if first is None else self.answer.candidates[:first]
        return [Candidate(candidate=c, gpus=self.answer.gpus) for c in ranked]

    @field(description="Sites that cannot take the job, by site id, with the reasons.")
    def excluded(self) -> list[ExcludedSite]:
        return [ExcludedSite(excluded=e) for e in self.answer.excluded]

    @field(
        description="What the answer could not take into account, the query going on: a "
        "modelId that is not in the graph (hot nowhere), an allowed jurisdiction no site has."
    )
    def warnings(self) -> list[str]:
        return list(self.answer.warnings)
