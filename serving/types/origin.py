"""Where a node or edge came from: its first and latest writing events."""

from __future__ import annotations

from datetime import datetime

import strawberry

from fleetgraph.graph_model.records import Origin as OriginRecord
from fleetgraph.graph_model.records import Provenance as ProvenanceRecord
from fleetgraph.serving.times import to_datetime


def _time(us: int) -> datetime:
    value = to_datetime(us)
    assert value is not None
    return value


@strawberry.type(description="The source event of a write and its place in the stream.")
class Provenance:
    event_id: str
    source: str = strawberry.field(description="topic/partition/offset or file:position")
    event_time: datetime
    writer: str

    @classmethod
    def of(cls, p: ProvenanceRecord) -> Provenance:
        return cls(
            event_id=p.event_id, source=p.source, event_time=_time(p.event_time), writer=p.writer
        )


@strawberry.type(description="The first and the latest event that wrote a record.")
class Origin:
    created_at: datetime
    created_by: str = strawberry.field(description="event id of the first write")
    updated_at: datetime
    latest: Provenance

    @classmethod
    def of(cls, origin: OriginRecord | None) -> Origin | None:
        if origin is None:
            return None
        return cls(
            created_at=_time(origin.created_at),
            created_by=origin.created_by,
            updated_at=_time(origin.updated_at),
            latest=Provenance.of(origin.latest),
        )
