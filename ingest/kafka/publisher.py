"""Publishing through a Faust app's buffered producer, as the ``publish(topic, key,
value)`` callable the graph-topic sink and the dead letters take."""

from __future__ import annotations

from typing import Any


class FaustPublisher:
    """``publish(topic, key, value)`` through Faust's buffered producer."""

    def __init__(self, app: Any, topics: list[str]) -> None:
        self.app = app
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
        self._topic(topic).send_soon(key=key, value=value)
