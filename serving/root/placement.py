"""Placement: where a model's weights are already hot, and where a job should run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import strawberry
from strawberry.types.nodes import SelectedField, Selection

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
        "defaults to the 24 hours before now; 'first': only the first (hottest) sites of "
        "the ranking (default: all); see docs/queries.md."
    )
    async def model_hotness(
        self, info: Info, model_id: strawberry.ID, window: WindowInput | None = None,
        first: int | None = None,
    ) -> list[SiteHotness]:
        start, end = (window.start, window.end) if window is not None else (None, None)
        now = info.context.clock()  # the store's now: the window's and the rows' (not the wall's)
        span = recent(start, end, now)
        ranked = await info.context.reads.run(
            "modelHotness", queries.model_hotness, info.context.store, model_id, span, first, now
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
        selections = info.selected_fields[0].selections
        asked = request.to_request(servers_needed(selections), candidates_needed(selections),
                                   excluded_needed(selections))
        answer = await info.context.reads.run(
            "placement", placement_query.placement, info.context.store, asked, now
        )
        return PlacementAnswer(answer=answer)


def servers_needed(selections: Sequence[Selection]) -> int | None:
    """How many of the best candidates the selection lists free GPUs of: the largest
    ``first`` of a ``candidates`` selection that asks for ``freeGpus``; 0 when none asks,
    None (all of them) when one has no ``first``."""
    needed = 0
    for candidates in _fields(selections, "candidates"):
        if not any(True for _ in _fields(candidates.selections, "freeGpus")):
            continue
        first = _int_argument(candidates.arguments.get("first"))
        if first is None:
            return None
        needed = max(needed, first)
    return needed


def candidates_needed(selections: Sequence[Selection]) -> int | None:
    """How many of the best candidates the selection lists: the largest ``first`` of its
    ``candidates`` selections; 0 when none asks, None (all) when one has no ``first``
    (or a negative one: the field refuses it)."""
    needed = 0
    for candidates in _fields(selections, "candidates"):
        first = _int_argument(candidates.arguments.get("first"))
        if first is None or first < 0:
            return None
        needed = max(needed, first)
    return needed


def _int_argument(value: object) -> int | None:
    """An Int argument as the selection gives it: an int from a variable, the literal's
    text when written in the document (strawberry does not parse literals there)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def excluded_needed(selections: Sequence[Selection]) -> bool:
    """Whether the selection lists the excluded sites (else they are not built)."""
    return any(True for _ in _fields(selections, "excluded"))


def _fields(selections: Sequence[Selection], name: str) -> Iterator[SelectedField]:
    """The fields named ``name`` among ``selections``, through fragments."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == name:
                yield selection
        else:
            yield from _fields(selection.selections, name)
