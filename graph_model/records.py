"""What the pipeline writes to a store, and what a store gives back.

Every write carries the event time it describes (``ts``, microseconds) and its
provenance. Stores merge writes property by property, last writer wins by event
time, so replays, duplicates and out-of-order arrivals converge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a write came from: the source event and its place in the stream."""

    event_id: str
    source: str  # "topic/partition/offset" or "file:position"
    event_time: int  # µs since epoch
    writer: str


@dataclass(slots=True)
class NodeUpsert:
    """Set some properties of a node as of event time ``ts``.

    A merged upsert (see ``fleetgraph.ingest.stages.dedup``) may carry older values:
    ``prop_ts`` then gives the event time of each property that is not at
    ``ts``, and ``created`` the oldest (event time, event id) merged into it.
    """

    type: str
    id: str
    props: dict[str, Any]
    ts: int
    provenance: Provenance
    prop_ts: dict[str, int] | None = None
    created: tuple[int, str] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return ("node", self.type, self.id)


@dataclass(slots=True)
class EdgeUpsert:
    """Set some properties of an edge as of event time ``ts`` (see NodeUpsert)."""

    type: str
    from_id: str
    to_id: str
    props: dict[str, Any]
    ts: int
    provenance: Provenance
    prop_ts: dict[str, int] | None = None
    created: tuple[int, str] | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return ("edge", self.type, self.from_id, self.to_id)


Upsert = NodeUpsert | EdgeUpsert


@dataclass(frozen=True, slots=True)
class Origin:
    """The first and the latest event that wrote a record."""

    created_at: int
    created_by: str  # event id of the first write
    updated_at: int
    latest: Provenance


@dataclass(frozen=True, slots=True)
class NodeRecord:
    type: str
    id: str
    props: dict[str, Any] = field(default_factory=dict)
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class EdgeRecord:
    type: str
    from_id: str
    to_id: str
    props: dict[str, Any] = field(default_factory=dict)
    origin: Origin | None = None

    def other(self, node_id: str) -> str:
        """The end of this edge that is not ``node_id``."""
        return self.to_id if node_id == self.from_id else self.from_id
