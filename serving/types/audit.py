"""The answers of lineage (where data came from, what flowed from it) and dataResidency
(where a dataset and everything made from it was processed and held)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.queries import lineage as lineage_query
from fleetgraph.serving.queries import residency as residency_query
from fleetgraph.serving.times import to_datetime
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import Node, as_node, load_node
from fleetgraph.serving.types.origin import Origin
from fleetgraph.serving.types.refs import SITE_KIND, JobRef, SiteRef
from fleetgraph.serving.types.relations import node_by_id
from fleetgraph.serving.types.scalars import ids


@strawberry.enum(description="UP: where it came from; DOWN: what flowed from it.")
class LineageDirection(Enum):
    UP = "UP"
    DOWN = "DOWN"


@strawberry.type(description="A node reached by a lineage walk, and its distance in edges.")
class LineageNode:
    row: strawberry.Private[lineage_query.LineageNode]
    id: strawberry.ID  # plain attributes: strawberry's basic-field path
    distance: int

    @classmethod
    def of(cls, row: lineage_query.LineageNode) -> LineageNode:
        return cls(row=row, id=strawberry.ID(row.id), distance=row.distance)

    @field(description="The node (null for pseudo-nodes such as jurisdiction:<code>, and "
           "for ids no node was stored for).")
    async def node(self, info: Info) -> Node | None:
        if self.row.id.startswith(lineage_query.JURISDICTION_PREFIX):
            return None
        return await load_node(info, self.row.id)


@strawberry.type(
    description="An edge walked, in its stored direction, with the hop it was walked at; "
    "ran_at (job -> its site) and in_jurisdiction (site -> jurisdiction:<code>) are steps "
    "over properties, without an origin."
)
class LineageEdge:
    row: strawberry.Private[lineage_query.LineageEdge]
    edge_type: str = strawberry.field(name="type")  # plain attributes, as LineageNode's
    from_id: strawberry.ID
    to_id: strawberry.ID
    distance: int

    @classmethod
    def of(cls, row: lineage_query.LineageEdge) -> LineageEdge:
        return cls(row=row, edge_type=row.type, from_id=strawberry.ID(row.from_id),
                   to_id=strawberry.ID(row.to_id), distance=row.distance)

    @field(name="from")
    async def from_node(self, info: Info) -> Node | None:
        return await load_node(info, self.row.from_id)

    @field(name="to")
    async def to_node(self, info: Info) -> Node | None:
        if self.row.to_id.startswith(lineage_query.JURISDICTION_PREFIX):
            return None
        return await load_node(info, self.row.to_id)

    @field(description="Why the edge exists: its first and latest source events.")
    def origin(self) -> Origin | None:
        return Origin.of(self.row.origin)


@strawberry.type(description="Nodes by distance then id; edges by distance, type, from, to.")
class Lineage:
    answer: strawberry.Private[lineage_query.Lineage]

    @strawberry.field
    def nodes(self) -> list[LineageNode]:
        return [LineageNode.of(n) for n in self.answer.nodes]

    @strawberry.field
    def edges(self) -> list[LineageEdge]:
        return [LineageEdge.of(e) for e in self.answer.edges]

    @field(description="True when the node limit cut the walk short.")
    def truncated(self) -> bool:
        return self.answer.truncated


@strawberry.type(description="Where one item was processed (by jobs) and/or held (a replica).")
class ResidencyPlace:
    place: strawberry.Private[residency_query.Place]

    @strawberry.field
    def item_id(self) -> strawberry.ID:
        return strawberry.ID(self.place.item_id)

    @field(description="The dataset, artifact or model.")
    async def item(self, info: Info) -> Node | None:
        return await load_node(info, self.place.item_id)

    @strawberry.field
    def site_id(self) -> strawberry.ID:
        return strawberry.ID(self.place.site_id)

    @strawberry.field
    async def site(self, info: Info) -> SiteRef | None:
        return await node_by_id(info, self.place.site_id, SITE_KIND)

    @field(description="The site's jurisdiction (null: none known, never allowed).")
    def jurisdiction(self) -> str | None:
        return self.place.jurisdiction

    @field(description="Jobs that read the item and ran at the site (their siteId), by id.")
    def job_ids(self) -> list[strawberry.ID]:
        return ids(self.place.jobs)

    @strawberry.field
    async def jobs(self, info: Info) -> list[JobRef]:
        records = await info.context.loaders.nodes.load_many(self.place.jobs)
        found: list[Any] = [as_node(r) for r in records if r is not None]
        return found

    @field(description="True when the item had a replica at the site (cached_at, any time).")
    def held(self) -> bool:
        return self.place.held

    @strawberry.field
    def held_from(self) -> datetime | None:
        return to_datetime(self.place.held_from)

    @field(description="null: still held (or never, when 'held' is false).")
    def held_to(self) -> datetime | None:
        return to_datetime(self.place.held_to)


@strawberry.type(description="Places of a dataset and its DOWN-lineage, by item then site.")
class DataResidency:
    answer: strawberry.Private[residency_query.Residency]

    @strawberry.field
    def dataset_id(self) -> strawberry.ID:
        return strawberry.ID(self.answer.dataset_id)

    @field(description="The dataset and everything DOWN-lineage of it, by id.")
    def item_ids(self) -> list[strawberry.ID]:
        return ids(self.answer.items)

    @strawberry.field
    def places(self) -> list[ResidencyPlace]:
        return self._wrapped(self.answer.places)

    @field(description="The places whose jurisdiction is not among the allowed.")
    def violations(self) -> list[ResidencyPlace]:
        return self._wrapped(self.answer.violations)

    def _wrapped(self, places: list[residency_query.Place]) -> list[ResidencyPlace]:
        """One object a place for both lists (a violation is also a place), so that the
        executor completes a place asked twice with the same fields once
        (serving/execution.py)."""
        made: dict[int, ResidencyPlace] = self.__dict__.setdefault("_places", {})
        found: list[ResidencyPlace] = []
        for place in places:  # the answer keeps the places: their ids stay theirs
            wrapper = made.get(id(place))
            if wrapper is None:
                wrapper = made[id(place)] = ResidencyPlace(place=place)
            found.append(wrapper)
        return found

    @field(description="True when the item limit cut the walk short.")
    def truncated(self) -> bool:
        return self.answer.truncated


@strawberry.type(description="What of a residency answer is in one jurisdiction.")
class JurisdictionResidency:
    row: strawberry.Private[residency_query.JurisdictionResidency]

    @field(description="null: the sites without a jurisdiction (never allowed).")
    def jurisdiction(self) -> str | None:
        return self.row.jurisdiction

    @field(description="True when the jurisdiction is among the allowed.")
    def allowed(self) -> bool:
        return self.row.allowed

    @field(description="Distinct sites of the places here.")
    def site_count(self) -> int:
        return self.row.sites

    @field(description="Distinct items processed or held here.")
    def item_count(self) -> int:
        return self.row.items

    @field(description="Places (item, site) here.")
    def place_count(self) -> int:
        return self.row.places

    @field(description="Places with a job that read the item there.")
    def processed_count(self) -> int:
        return self.row.processed

    @field(description="Places with a replica of the item.")
    def held_count(self) -> int:
        return self.row.held


@strawberry.type(description="dataResidency bounded: its counts, a summary per jurisdiction "
                 "and one page of its places (or violations), by item then site.")
class DataResidencySummary:
    answer: strawberry.Private[residency_query.ResidencySummary]

    @strawberry.field
    def dataset_id(self) -> strawberry.ID:
        return strawberry.ID(self.answer.dataset_id)

    @field(description="The dataset and everything DOWN-lineage of it.")
    def item_count(self) -> int:
        return self.answer.item_count

    @field(description="Every place of the full answer.")
    def place_count(self) -> int:
        return self.answer.place_count

    @field(description="The places whose jurisdiction is not among the allowed.")
    def violation_count(self) -> int:
        return self.answer.violation_count

    @field(description="Per jurisdiction (null last), sorted.")
    def jurisdictions(self) -> list[JurisdictionResidency]:
        return [JurisdictionResidency(row=j) for j in self.answer.jurisdictions]

    @field(description="This page: the places (or violations) after the cursor, as the full "
           "answer has them.")
    def places(self) -> list[ResidencyPlace]:
        return [ResidencyPlace(place=p) for p in self.answer.page]

    @field(description="The cursor of the next page ('after'); null: this page is the last.")
    def next_after(self) -> str | None:
        return self.answer.next_after

    @field(description="True when the item limit cut the walk short.")
    def truncated(self) -> bool:
        return self.answer.truncated
