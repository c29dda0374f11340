"""Where a worker's processors send their output: per-type graph topics and the
dead-letter topic, through a ``publish(topic, key, value)`` function (a Faust
topic's ``send_soon`` on a worker, a list in tests). Nothing here knows Faust.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence

from fleetgraph.graph_model.records import Upsert
from fleetgraph.ingest.deadletter import dead_letter_record
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.kafka.records import GraphRecordCodec
from fleetgraph.ingest.message import Message

Publish = Callable[[str, bytes | None, bytes], None]


class GraphTopicSink:
    """A GraphSink that produces each upsert to its type's graph topic."""

    def __init__(self, codec: GraphRecordCodec, publish: Publish) -> None:
        self.codec = codec
        self.publish = publish
        self.written: Counter[str] = Counter()  # graph topic -> records

    def write(self, upserts: Sequence[Upsert]) -> None:
        for upsert in upserts:
            record = self.codec.encode(upsert)
            self.publish(record.topic, record.key, record.value)
            self.written[record.topic] += 1


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
