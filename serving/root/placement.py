"""Placement: where a model's weights are already hot, and where a job should run."""

from __future__ import annotations

import strawberry

from fleetgraph.serving import queries
from fleetgraph.serving.context import Info
from fleetgraph.serving.queries import placement as placement_query
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.placement import (
    PlacementAnswer,
    PlacementInput,
    SiteHotness,
    WindowInput,
)
from fleetgraph.serving.windows import recent


@strawberry.type
class PlacementQuery:
    @field(
        description="Sites ranked by how hot the model's artifacts are there; the window "
        "defaults to the 24 hours before now; see docs/queries.md."
    )
    async def model_hotness(
        self, info: Info, model_id: strawberry.ID, window: WindowInput | None = None
    ) -> list[SiteHotness]:
        start, end = (window.start, window.end) if window is not None else (None, None)
        span = recent(start, end, info.context.clock())
        ranked = await info.context.reads.run(
            "modelHotness", queries.model_hotness, info.context.store, model_id, span
        )
        return [SiteHotness(hotness=h) for h in ranked]

    @field(
        description="Sites ranked for a job of 'gpus' GPUs (kept in one site) at 'at' "
        "(default now): free GPUs on healthy racks, health, model hotness, data locality, "
        "energy and region; sites excluded by jurisdiction or capacity, with the reasons. "
        "See docs/queries.md."
    )
    async def placement(self, info: Info, request: PlacementInput) -> PlacementAnswer | None:
        now = info.context.clock()
        answer = await info.context.reads.run(
            "placement", placement_query.placement, info.context.store, request.to_request(now), now
        )
        return PlacementAnswer(answer=answer)
