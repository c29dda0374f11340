"""An event log on disk: an Avro object container file of messages.

Each record is ``{topic, payload}`` where ``payload`` is the single-object
encoded event exactly as it would travel on Kafka, so a file replays the same
bytes a broker would deliver. A message's source position is ``<file>:<index>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import fastavro

from fleetgraph.ingest.errors import IngestError
from fleetgraph.ingest.message import Message

LOG_SCHEMA = fastavro.parse_schema({
    "type": "record",
    "name": "LoggedMessage",
    "namespace": "fleetgraph.log",
    "fields": [
        {"name": "topic", "type": "string"},
        {"name": "payload", "type": "bytes"},
    ],
})


def write_event_log(path: str | Path, messages: Iterable[tuple[str, bytes]]) -> int:
    """Write (topic, payload) pairs; return how many."""
    count = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal count
        for topic, payload in messages:
            count += 1
            yield {"topic": topic, "payload": payload}

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("wb") as f:
        fastavro.writer(f, LOG_SCHEMA, records(), codec="deflate", sync_interval=256 * 1024)
    return count


def write_event_stream(out: IO[bytes], messages: Iterable[tuple[str, bytes]]) -> int:
    """Write (topic, payload) pairs as an event log to an open binary stream (stdout)."""
    pairs = list(messages)
    fastavro.writer(out, LOG_SCHEMA, ({"topic": t, "payload": p} for t, p in pairs),
                    codec="deflate", sync_interval=256 * 1024)
    return len(pairs)


def read_event_log(path: str | Path) -> Iterator[Message]:
    try:
        with Path(path).open("rb") as f:
            yield from read_event_stream(f, Path(path).name)
    except OSError as exc:
        raise IngestError(f"cannot read event log {path}: {exc}") from exc


def read_event_stream(f: IO[bytes], name: str) -> Iterator[Message]:
    """The messages of an event log read from an open binary stream."""
    try:
        for index, record in enumerate(fastavro.reader(f)):
            assert isinstance(record, dict)
            yield Message(record["topic"], record["payload"], f"{name}:{index}")
    except (OSError, ValueError, EOFError) as exc:
        raise IngestError(f"cannot read event log {name}: {exc}") from exc
