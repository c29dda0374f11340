"""Reading and replaying dead letters (``fleetgraph deadletters``).

A dead letter is the JSON record of :func:`fleetgraph.ingest.deadletter.dead_letter_record`:
reason, detail, topic, source, refused_at_us and the raw payload (base64). The
same record sits in the embedded runner's file and on the Kafka dead-letter
topic. Here: counting them, showing one with its payload decoded, and replaying
a file's letters through the pipeline into the embedded store.

Replay of a file, after a fix: the chosen letters (all, or one reason) run
through the pipeline again, with their first source position, so a replayed
event is stored as if it had been accepted the first time. Then the file is
replaced, atomically, by a new one holding the letters not chosen and the
letters refused again (with their new reason, ``replays`` counting the tries);
the replayed ones move to ``<name>.replayed.jsonl`` with ``replayed_at_us``. A
second replay therefore does not send them again, and sending them again
anyway (from an archived copy) changes nothing: the store merges an event
with itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.ingest.deadletter import dead_letter_record
from fleetgraph.ingest.embedded import SideInputStore, ingest_into_store, store_pipeline
from fleetgraph.ingest.errors import IngestError, RejectedEvent
from fleetgraph.ingest.message import Message
from fleetgraph.schemas.codec import EventCodec, SchemaError
from fleetgraph.settings import Settings

Letter = dict[str, Any]
REQUIRED = ("reason", "topic", "source", "payload_b64")


def read_letters(path: Path) -> list[Letter]:
    """The letters of a dead-letter file, in order; a missing file holds none."""
    if not path.exists():
        return []
    letters = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                letter = json.loads(line)
            except json.JSONDecodeError as exc:
                raise IngestError(f"{path}:{number} is not a dead letter: {exc}") from exc
            if not isinstance(letter, dict) or any(k not in letter for k in REQUIRED):
                raise IngestError(f"{path}:{number} is not a dead letter (it needs "
                                  f"{', '.join(REQUIRED)})")
            letters.append(letter)
    return letters


def payload_of(letter: Letter) -> bytes:
    try:
        return base64.b64decode(letter["payload_b64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IngestError(f"the dead letter from {letter['source']} has a payload that "
                          f"is not base64: {exc}") from exc


def reason_counts(letters: Iterable[Letter]) -> Counter[str]:
    return Counter(str(letter["reason"]) for letter in letters)


def summary_lines(letters: list[Letter], where: str, *, reason: str | None = None,
                  replayed: frozenset[int] = frozenset(), width: int = 100) -> Iterator[str]:
    """Counts by reason, then one line per letter (of ``reason``, or all): index, reason,
    topic, source, detail; letters in ``replayed`` (indexes) are marked so."""
    counts = reason_counts(letters)
    by_reason = ", ".join(f"{r} {n:,}" for r, n in sorted(counts.items()))
    yield f"{len(letters):,} dead letters in {where}" + (f": {by_reason}" if counts else "")
    if replayed:
        yield f"{len(replayed):,} of them replayed already (marked *)"
    for index, letter in enumerate(letters):
        if reason is not None and letter["reason"] != reason:
            continue
        detail = " ".join(str(letter.get("detail", "")).split())
        if len(detail) > width:
            detail = detail[: width - 1] + "…"
        mark = "*" if index in replayed else " "
        yield (f"{index:>6}{mark} {letter['reason']:<18} {letter['topic']:<10} "
               f"{letter['source']}  {detail}")


def described(letter: Letter, codec: EventCodec) -> dict[str, Any]:
    """The whole record, with ``payload`` decoded (or why it does not decode)."""
    shown: dict[str, Any] = dict(letter)
    payload = payload_of(letter)
    try:
        record_name, fields = codec.decode(payload)
    except SchemaError as exc:
        shown["payload"] = {"decodes": False, "error": str(exc), "bytes": len(payload),
                            "head_hex": payload[:64].hex()}
        if payload.lstrip()[:1] == b"{":  # a line of a JSON-lines log, as it was written
            shown["payload"]["text"] = payload.decode("utf-8", errors="replace")
    else:
        shown["payload"] = {"decodes": True, "schema": record_name, "event": fields}
    return shown


def letter_at(letters: list[Letter], index: int, where: str) -> Letter:
    if not 0 <= index < len(letters):
        raise IngestError(f"no dead letter {index} in {where}: it holds {len(letters)} "
                          f"(0 to {len(letters) - 1})" if letters else f"{where} holds none")
    return letters[index]


@dataclass
class ReplayReport:
    chosen: int = 0
    stored: int = 0
    filtered: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    kept: int = 0  # letters of other reasons, left as they were
    replayed_to: Path | None = None

    def lines(self, path: Path) -> list[str]:
        refused = ", ".join(f"{r} {n:,}" for r, n in sorted(self.refused.items())) or "none"
        out = [f"replayed {self.chosen:,} dead letters: {self.stored:,} stored, "
               f"{self.filtered:,} filtered as noise, {sum(self.refused.values()):,} "
               f"refused again ({refused})"]
        if self.replayed_to is not None and self.stored + self.filtered:
            out.append(f"the replayed letters moved to {self.replayed_to}")
        out.append(f"{path} now holds {self.kept + sum(self.refused.values()):,} dead letters")
        return out


class _Refusals:
    """DeadLetters that remembers which message was refused again, and why."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.by_message: dict[int, RejectedEvent] = {}

    def put(self, message: Message, error: RejectedEvent) -> None:
        self.by_message[id(message)] = error
        self.counts[error.reason] += 1

    def close(self) -> None:
        pass


def replay_file(settings: Settings, path: Path, open_store: Callable[[], SideInputStore],
                reason: str | None = None) -> ReplayReport:
    """Replay the letters of ``path`` (those of ``reason``, or all) into the store
    ``open_store()`` opens (only when there is a letter to replay) and closes after."""
    letters = read_letters(path)
    chosen = [letter for letter in letters if reason is None or letter["reason"] == reason]
    kept = [letter for letter in letters if not (reason is None or letter["reason"] == reason)]
    report = ReplayReport(chosen=len(chosen), kept=len(kept))
    if not chosen:
        return report
    messages = [Message(str(letter["topic"]), payload_of(letter), str(letter["source"]))
                for letter in chosen]
    refusals = _Refusals()
    store = open_store()
    try:
        pipeline = store_pipeline(settings, store, refusals)
        ingest_into_store(pipeline, store, lambda: messages)
    finally:
        store.close()
    now = wall_clock_us()
    still_dead, replayed = [], []
    for letter, message in zip(chosen, messages, strict=True):
        error = refusals.by_message.get(id(message))
        if error is None:
            replayed.append({**letter, "replayed_at_us": now})
            continue
        again = dead_letter_record(message, error)
        again["replays"] = int(letter.get("replays", 0)) + 1
        again["first_refused_at_us"] = letter.get("first_refused_at_us",
                                                  letter.get("refused_at_us"))
        still_dead.append(again)
    report.stored = pipeline.stats.accepted
    report.filtered = sum(pipeline.stats.filtered.values())
    report.refused = refusals.counts
    report.replayed_to = path.with_name(f"{path.stem}.replayed{path.suffix}")
    _append(report.replayed_to, replayed)
    _replace(path, [*kept, *still_dead])
    return report


def _append(path: Path, letters: list[Letter]) -> None:
    if letters:
        with path.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(letter) + "\n" for letter in letters)


def _replace(path: Path, letters: list[Letter]) -> None:
    """Write a new file in place of ``path`` in one step (a crash leaves the old one)."""
    new = path.with_name(f"{path.name}.new")
    with new.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(letter) + "\n" for letter in letters)
        f.flush()
        os.fsync(f.fileno())
    new.replace(path)
