"""An event log in either of its formats: the Avro container (``eventlog``) or JSON
lines (``jsonlines``), known by the file's name or as told, ``-`` for standard
input or output.

:class:`EventLog` is a log that can be read more than once (the embedded runner
reads the side inputs first, then the rest): a bad line is reported on the
first reading only, and standard input is read once and kept.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from fleetgraph.ingest.errors import IngestError, RejectedEvent
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.sources.eventlog import (
    read_event_log,
    read_event_stream,
    write_event_log,
    write_event_stream,
)
from fleetgraph.ingest.sources.jsonlines import read_json_lines, write_json_lines
from fleetgraph.schemas.codec import EventCodec

AVRO = "avro"
JSONL = "jsonl"
FORMATS = (AVRO, JSONL)
JSON_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
STDIO = "-"

BadLineHandler = Callable[[Message, RejectedEvent], object]


def log_format(path: Path | str, given: str | None = None) -> str:
    """The format of a log: ``given``, else by the name's extension (.jsonl, .ndjson,
    .json: JSON lines; anything else: the Avro container)."""
    if given is not None:
        if given not in FORMATS:
            raise IngestError(f"unknown log format {given!r}: expected {' or '.join(FORMATS)}")
        return given
    if str(path) == STDIO:
        raise IngestError("standard input or output has no name to tell its format by: "
                          "give --format avro or --format jsonl")
    return JSONL if Path(path).suffix.lower() in JSON_SUFFIXES else AVRO


class EventLog:
    """The messages of a log file (or standard input), as often as asked."""

    def __init__(self, path: Path | str, codec: EventCodec, *, fmt: str | None = None,
                 on_bad_line: BadLineHandler | None = None) -> None:
        self.path = Path(path)
        self.format = log_format(path, fmt)
        self.codec = codec
        self.on_bad_line = on_bad_line
        self.bad_lines = 0
        self._read_once = False
        self._stdin: bytes | None = None

    @property
    def name(self) -> str:
        return "stdin" if str(self.path) == STDIO else self.path.name

    def __call__(self) -> Iterator[Message]:
        first = not self._read_once
        self._read_once = True
        if self.format == AVRO:
            if str(self.path) == STDIO:
                yield from read_event_stream(io.BytesIO(self._standard_input()), self.name)
            else:
                yield from self._avro()
            return
        handler = self._count_bad_line if first else _ignore
        if str(self.path) == STDIO:
            lines = io.BytesIO(self._standard_input())
            yield from read_json_lines(lines, self.codec, self.name, handler)
            return
        try:
            with self.path.open("rb") as f:  # bytes: a line that is not UTF-8 is refused
                yield from read_json_lines(f, self.codec, self.name, handler)
        except OSError as exc:
            raise IngestError(f"cannot read event log {self.path}: {exc}") from exc

    def pairs(self) -> Iterator[tuple[str, bytes]]:
        """(topic, payload) of every message: for converting and publishing."""
        for message in self():
            yield message.topic, message.payload

    def _avro(self) -> Iterator[Message]:
        try:
            yield from read_event_log(self.path)
        except IngestError as exc:
            if _looks_like_json(self.path):
                raise IngestError(f"{exc} ({self.path.name} looks like JSON lines: name it "
                                  "*.jsonl or give --format jsonl)") from exc
            raise

    def _count_bad_line(self, message: Message, error: RejectedEvent) -> None:
        self.bad_lines += 1
        if self.on_bad_line is None:
            raise error
        self.on_bad_line(message, error)

    def _standard_input(self) -> bytes:
        if self._stdin is None:
            self._stdin = sys.stdin.buffer.read()
        return self._stdin


def _ignore(message: Message, error: RejectedEvent) -> None:
    """A bad line seen again, on a second reading: reported on the first."""


def _looks_like_json(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


def write_log(path: Path | str, codec: EventCodec, pairs: Iterable[tuple[str, bytes]], *,
              fmt: str | None = None) -> tuple[int, int]:
    """Write (topic, payload) pairs to a log in its format (``-``: standard output);
    return (messages written, of which kept as raw bytes in JSON lines)."""
    fmt = log_format(path, fmt)
    if fmt == AVRO:
        if str(path) == STDIO:
            count = write_event_stream(sys.stdout.buffer, pairs)
            sys.stdout.buffer.flush()
            return count, 0
        return write_event_log(path, pairs), 0
    if str(path) == STDIO:
        events, raw = write_json_lines(sys.stdout, codec, pairs)
        sys.stdout.flush()
        return events + raw, raw
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("w", encoding="utf-8", newline="\n") as f:
        events, raw = write_json_lines(f, codec, pairs)
    return events + raw, raw
