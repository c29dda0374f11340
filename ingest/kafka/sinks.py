"""Where a worker's processors send their output: per-type graph topics and the
dead-letter topic, through a ``publish(topic, key, value)`` function (a Faust
topic's ``send_soon`` on a worker, a list in tests). Nothing here knows Faust.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence

from fleetgraph.graph_model.records import NodeUpsert, Upsert
from fleetgraph.ingest.deadletter import dead_letter_record
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.kafka.records import GraphRecord, GraphRecordCodec
from fleetgraph.ingest.message import Message

Publish = Callable[[str, bytes | None, bytes], None]


class GraphTopicSink:
    """A GraphSink that produces upserts to their type's graph topic, several to a
    message."""

    def __init__(self, codec: GraphRecordCodec, publish: Publish) -> None:
        self.codec = codec
        self.publish = publish
        self.written: Counter[str] = Counter()  # graph topic -> upserts

    def write(self, upserts: Sequence[Upsert]) -> None:
        for record in self.records(upserts):
            self.publish(record.topic, record.key, record.value)

    def records(self, upserts: Sequence[Upsert]) -> list[GraphRecord]:
        """The graph messages that carry ``upserts`` (several to a message,
        :meth:`GraphRecordCodec.encode_many`); ``written`` counts the upserts."""
        records = self.codec.encode_many(upserts)
        self.written.update(self.codec.names.graph(
            "node" if isinstance(u, NodeUpsert) else "edge", u.type) for u in upserts)
        return records


class TopicDeadLetters:
    """DeadLetters on a topic: the JSON record of ``dead_letter_record``, keyed by source."""

    def __init__(self, topic: str, publish: Publish) -> None:
        self.topic = topic
        self.publish = publish
        self.counts: Counter[str] = Counter()

    def put(self, message: Message, error: RejectedEvent) -> None:
        record = dead_letter_record(message, error)
        self.publish(self.topic, message.source.encode(), json.dumps(record).encode())
        self.counts[error.reason] += 1

    def close(self) -> None:
        pass
