"""Placement: where a model's weights are already hot."""

from __future__ import annotations

import asyncio

import strawberry

from serving import queries
from serving.context import Info
from serving.types.field import field
from serving.types.placement import SiteHotness, WindowInput
from serving.windows import recent


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
        ranked = await asyncio.to_thread(
            queries.model_hotness, info.context.store, model_id, span
        )
        return [SiteHotness(hotness=h) for h in ranked]
