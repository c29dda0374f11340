"""The event archive of ``fleetgraph audit verify``: event logs, read at the positions
bundles name (``<file>:<index>``, as ``ingest`` records them)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.ingest.stages.decode import decode
from fleetgraph.schemas import load_event_codec
from fleetgraph.serving.queries.audit_verify import MISSING


class EventLogArchive:
    """Event logs by file name; a position in another file (or on Kafka) is not held."""

    def __init__(self, logs: Sequence[Path]) -> None:
        self.logs = {path.name: path for path in logs}

    def __call__(self, sources: Collection[str]) -> dict[str, tuple[str, int]]:
        """The (event id, event time) at each position held; MISSING past a log's end
        or where the message there does not decode."""
        wanted: dict[str, dict[int, str]] = {}
        for source in sources:
            name, sep, position = source.rpartition(":")
            if sep and name in self.logs and position.isdigit():
                wanted.setdefault(name, {})[int(position)] = source
        found: dict[str, tuple[str, int]] = {}
        codec = load_event_codec()
        for name, positions in wanted.items():
            last = max(positions)
            for index, message in enumerate(read_event_log(self.logs[name])):
                if index in positions:
                    try:
                        event = decode(codec, message)
                        found[positions[index]] = (event.event_id, event.time)
                    except RejectedEvent:
                        found[positions[index]] = MISSING
                if index >= last:
                    break
            for source in positions.values():
                found.setdefault(source, MISSING)
        return found

