"""Why an event was refused."""

from __future__ import annotations

from fleetgraph.errors import FleetgraphError


class IngestError(FleetgraphError):
    """Ingest could not go on (a source or sink failed)."""


class RejectedEvent(IngestError):
    """One event is malformed or invalid; it goes to the dead-letter with ``reason``.

    ``reason`` is a short stable code (for counting and alerting); the message
    says what exactly is wrong.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
