"""The integrity report's answer: findings with the records and events behind them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from fleetgraph.graph_model.records import EdgeRecord, NodeRecord
from fleetgraph.serving.queries import integrity_rules as rules
from fleetgraph.serving.times import to_datetime
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.node import Edge, Node, as_node

IntegrityKind = strawberry.enum(
    rules.IntegrityKind,
    description="MISSING_NODE: an edge names a node with no record. NEVER_INSTALLED: a "
    "record no installed/submitted/registered event wrote. ENDED_BEFORE_STARTED, "
    "STARTED_BEFORE_SUBMITTED: a job's times out of order. CLOSED_NEVER_OPENED: an "
    "interval with a close only. INTERVAL_REVERSED: validTo before validFrom. REOPENED: "
    "a containment edge first written before the install it holds. See docs/queries.md.",
)


@strawberry.enum(description="REFERENCE: referenced but never installed; SEQUENCE: an "
                 "impossible sequence of events.")
class IntegrityCategory(Enum):
    REFERENCE = "REFERENCE"
    SEQUENCE = "SEQUENCE"


@strawberry.type(description="An event that wrote a record of a finding.")
class CausingEvent:
    row: strawberry.Private[rules.CausingEvent]

    @strawberry.field
    def event_id(self) -> str:
        return self.row.event_id

    @strawberry.field
    def event_time(self) -> datetime:
        moment = to_datetime(self.row.event_time)
        assert moment is not None
        return moment

    @field(description="topic/partition/offset or file:position; a record keeps it for its "
           "latest write only (null for a first write)")
    def source(self) -> str | None:
        return self.row.source

    @field(description="'first write of <record>' or 'latest write of <record>'.")
    def wrote(self) -> str:
        return self.row.wrote


@strawberry.type(description="One thing ops should look at, and the records that show it.")
class IntegrityFinding:
    row: strawberry.Private[rules.Finding]

    @field(name="kind")
    def finding_kind(self) -> IntegrityKind:  # type: ignore[valid-type]
        return self.row.kind

    @strawberry.field
    def category(self) -> IntegrityCategory:
        reference = self.row.kind.is_reference
        return IntegrityCategory.REFERENCE if reference else IntegrityCategory.SEQUENCE

    @field(description="The node the finding is about (it may have no record).")
    def subject_id(self) -> strawberry.ID:
        return strawberry.ID(self.row.subject_id)

    @field(description="The subject's record, when the finding includes it.")
    def subject(self) -> Node | None:
        for record in self.row.records:
            if isinstance(record, NodeRecord) and record.id == self.row.subject_id:
                return as_node(record)
        return None

    @strawberry.field
    def detail(self) -> str:
        return self.row.detail

    @field(description="The edges of the finding, with their origins.")
    def edges(self) -> list[Edge]:
        return [Edge(record=r) for r in self.row.records if isinstance(r, EdgeRecord)]

    @field(description="The first and latest events that wrote its records, oldest first.")
    def events(self) -> list[CausingEvent]:
        return [CausingEvent(row=e) for e in self.row.events()]


@strawberry.type(description="One page of findings; pass endCursor as 'after' for the next. "
                 "A page can hold fewer than 'first' (even none) when its scan budget ran "
                 "out: go on until hasNextPage is false.")
class IntegrityReport:
    items: list[IntegrityFinding]
    end_cursor: str | None
    has_next_page: bool
    scanned: int = strawberry.field(description="Nodes this request read.")
