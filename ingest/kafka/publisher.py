"""Publishing through a Faust app's buffered producer, as the ``publish(topic, key,
value)`` callable the graph-topic sink and the dead letters take."""

from __future__ import annotations

from typing import Any

from fleetgraph.ingest.kafka.checkpoint import checkpoint_of


class FaustPublisher:
    """``publish(topic, key, value)`` through Faust's buffered producer; each send is
    handed to the app's checkpoint, so the next commit of source offsets waits until
    Kafka has it (a dead letter is never committed past before it is written)."""

    def __init__(self, app: Any, topics: list[str]) -> None:
        self.app = app
        self._track = checkpoint_of(app).track
        self._topics: dict[str, Any] = {}
        for name in topics:
            self._topic(name)

    def _topic(self, name: str) -> Any:
        topic = self._topics.get(name)
        if topic is None:
            topic = self.app.topic(name, key_serializer="raw", value_serializer="raw")
            self._topics[name] = topic
        return topic

    def __call__(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._track(self._topic(topic).send_soon(key=key, value=value))
