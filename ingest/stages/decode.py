"""Stage 1: bytes to an event, or a rejection with the reason."""

from __future__ import annotations

from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Event, Message
from fleetgraph.schemas.codec import EventCodec, SchemaError, UnknownSchemaError
from fleetgraph.schemas.topics import TOPIC_OF_RECORD


def decode(codec: EventCodec, message: Message) -> Event:
    try:
        record_name, fields, bound = codec.decode_bounded(message.payload)
    except UnknownSchemaError as exc:
        raise RejectedEvent("unknown_schema", str(exc)) from exc
    except SchemaError as exc:
        raise RejectedEvent("undecodable", str(exc)) from exc
    topic = TOPIC_OF_RECORD.get(record_name) or codec.topic_of(record_name)
    if message.topic and message.topic != topic:  # a Topic is the str of its name
        raise RejectedEvent(
            "wrong_topic", f"a {record_name} record arrived on topic {message.topic!r}"
        )
    return Event(topic, fields, message.source, {}, bound)
