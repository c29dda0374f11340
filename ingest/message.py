"""A message as read from a source, and an event once decoded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleetgraph.schemas.topics import Topic


@dataclass(frozen=True, slots=True)
class Message:
    """Raw bytes from a topic, with where they came from (``topic/partition/offset``
    on Kafka, ``file:index`` from an event log)."""

    topic: str
    payload: bytes
    source: str


@dataclass(slots=True)
class Event:
    """A decoded event: its topic, its fields, and what enrichment added; ``bound``,
    when the decoder knows one, is a length no string of the fields exceeds and a
    count no list or map of them exceeds (the validator's size checks stand on it)."""

    topic: Topic
    fields: dict[str, Any]
    source: str
    enriched: dict[str, Any] = field(default_factory=dict)
    bound: int | None = None

    @property
    def event_id(self) -> str:
        return str(self.fields["event_id"])

    @property
    def time(self) -> int:
        return int(self.fields["event_time"])

    @property
    def kind(self) -> str:
        return str(self.fields["kind"])
