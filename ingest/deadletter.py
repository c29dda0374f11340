"""Where refused events go, with their reason: nothing is lost.

The embedded runner appends JSON lines to a file; each line holds the reason
code, the message, the source position, the time it was refused and the raw
payload (base64), so an operator can fix and replay it. The Faust workers send
the same record to the dead-letter topic.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any, Protocol

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Message


def dead_letter_record(message: Message, error: RejectedEvent) -> dict[str, Any]:
    return {
        "reason": error.reason,
        "detail": error.detail,
        "topic": message.topic,
        "source": message.source,
        "refused_at_us": wall_clock_us(),
        "payload_b64": base64.b64encode(message.payload).decode("ascii"),
    }


class DeadLetters(Protocol):
    counts: Counter[str]

    def put(self, message: Message, error: RejectedEvent) -> None: ...

    def close(self) -> None: ...


class DeadLetterFile:
    """Appends dead letters to a JSON-lines file (opened on the first one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.counts: Counter[str] = Counter()
        self._file: IO[str] | None = None

    def put(self, message: Message, error: RejectedEvent) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(dead_letter_record(message, error)) + "\n")
        self.counts[error.reason] += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class DeadLetterList:
    """Keeps dead letters in memory (tests, and callers that route them elsewhere)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.records: list[dict[str, Any]] = []

    def put(self, message: Message, error: RejectedEvent) -> None:
        self.records.append(dead_letter_record(message, error))
        self.counts[error.reason] += 1

    def close(self) -> None:
        pass


def archive_dead_letters(path: str | Path) -> Path | None:
    """Move a dead-letter file aside to ``<name>.<UTC time>.jsonl`` so the next run starts
    a new one; returns where it went (None when there was none or it was empty)."""
    path = Path(path)
    if not path.exists():
        return None
    if path.stat().st_size == 0:
        path.unlink()
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    archived = path.with_name(f"{path.stem}.{stamp}{path.suffix}")
    n = 1
    while archived.exists():
        n += 1
        archived = path.with_name(f"{path.stem}.{stamp}-{n}{path.suffix}")
    path.rename(archived)
    return archived


def read_dead_letters(path: str | Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
