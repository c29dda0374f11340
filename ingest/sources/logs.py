"""An event log in either of its formats: the Avro container (``eventlog``) or JSON
lines (``jsonlines``), known by the file's name or as told, ``-`` for standard
input or output.

:class:`EventLog` is a log that can be read more than once (the embedded runner
reads the side inputs first, then the rest): a bad line is reported on the
first reading only, and the lines are checked and encoded once (later readings
read them back from a temporary spool), so standard input is read once.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import fastavro
from fastavro.write import Writer

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
                 on_bad_line: BadLineHandler | None = None, once: bool = False) -> None:
        """``once``: the log is read once (no spool is kept for a second reading)."""
        self.path = Path(path)
        self.once = once
        self.format = log_format(path, fmt)
        self.codec = codec
        self.on_bad_line = on_bad_line
        self.bad_lines = 0
        self._read_once = False
        self._stdin: bytes | None = None
        self._spool = _Spool()

    @property
    def name(self) -> str:
        return "stdin" if str(self.path) == STDIO else self.path.name

    def __call__(self) -> Iterator[Message]:
        if self.format == AVRO:
            if str(self.path) == STDIO:
                yield from read_event_stream(io.BytesIO(self._standard_input()), self.name)
            else:
                yield from self._avro()
            return
        if self._spool.complete:  # read before: the lines checked and encoded then
            yield from self._spool.replay()
            return
        handler = self._count_bad_line if not self._read_once else _ignore
        self._read_once = True
        keep = _unspooled if self.once else self._spool.record
        if str(self.path) == STDIO:
            yield from keep(read_json_lines(sys.stdin.buffer, self.codec, self.name, handler))
            return
        try:
            with self.path.open("rb") as f:  # bytes: a line that is not UTF-8 is refused
                yield from keep(read_json_lines(f, self.codec, self.name, handler))
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


SPOOL_SCHEMA = fastavro.parse_schema({
    "type": "record", "name": "SpooledMessage", "namespace": "fleetgraph.spool",
    "fields": [{"name": "topic", "type": "string"}, {"name": "payload", "type": "bytes"},
               {"name": "source", "type": "string"}],
})


class _Spool:
    """The messages of a JSON-lines log as they were checked and encoded on its first
    complete reading, in a temporary Avro file (removed with the log): a second reading
    (the runner's, after the side inputs) reads them back instead of checking every
    line again, and standard input is read once."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.complete = False
        self._cleanup: weakref.finalize[Any, Any] | None = None

    def record(self, messages: Iterable[Message]) -> Iterator[Message]:
        fd, name = tempfile.mkstemp(prefix="fleetgraph-", suffix=".spool.avro")
        path = Path(name)
        cleanup = weakref.finalize(self, path.unlink, missing_ok=True)
        try:
            with os.fdopen(fd, "wb") as f:
                writer = Writer(f, SPOOL_SCHEMA, codec="null")
                for message in messages:
                    writer.write({"topic": message.topic, "payload": message.payload,
                                  "source": message.source})
                    yield message
                writer.flush()
        except BaseException:  # a reading stopped half way (GeneratorExit too): not kept
            cleanup()
            raise
        if self._cleanup is not None:
            self._cleanup()
        self.path, self._cleanup, self.complete = path, cleanup, True

    def replay(self) -> Iterator[Message]:
        assert self.path is not None
        with self.path.open("rb") as f:
            for record in fastavro.reader(f):
                assert isinstance(record, dict)
                yield Message(record["topic"], record["payload"], record["source"])


def _unspooled(messages: Iterable[Message]) -> Iterator[Message]:
    yield from messages


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
