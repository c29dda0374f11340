"""Avro on the wire: the input event schemas and their codec."""

from fleetgraph.schemas.codec import (
    EventCodec,
    SchemaError,
    UnknownSchemaError,
    load_event_codec,
)
from fleetgraph.schemas.topics import SOURCE_TOPICS, Topic

__all__ = [
    "SOURCE_TOPICS",
    "EventCodec",
    "SchemaError",
    "Topic",
    "UnknownSchemaError",
    "load_event_codec",
]
