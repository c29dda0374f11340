"""Why an event was refused.

A failed store write is told apart by the store itself: ``StorageUnavailable``
when it cannot be reached (an outage to wait out), any other error a refusal of
what it was given (``fleetgraph.storage.base``)."""

from __future__ import annotations

import traceback

from fleetgraph.core.errors import FleetgraphError

PROCESSING_ERROR = "processing_error"
STORE_REFUSED = "store_refused"


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


def processing_error(exc: BaseException) -> RejectedEvent:
    """A RejectedEvent for an unexpected exception, with the traceback's summary."""
    frames = traceback.extract_tb(exc.__traceback__)[-5:]
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
                        for f in reversed(frames))
    return RejectedEvent(PROCESSING_ERROR, f"{type(exc).__name__}: {exc} (at {where})")
