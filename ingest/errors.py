"""Why an event was refused, and how a failed store write is told apart."""

from __future__ import annotations

import sqlite3
import traceback

from fleetgraph.core.errors import FleetgraphError
from fleetgraph.storage.base import StorageUnavailable

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


def is_outage(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) says the store is unreachable or
    overloaded (connections, timeouts, no host, a locked file), not that it
    refuses what it was given."""
    outage: tuple[type[BaseException], ...] = (OSError, sqlite3.OperationalError,
                                                StorageUnavailable)
    refusal: tuple[type[BaseException], ...] = ()
    try:
        from cassandra import DriverException, RequestValidationException
        from cassandra.cluster import NoHostAvailable
        from cassandra.connection import ConnectionException
    except ImportError:  # pragma: no cover - the driver is a dependency
        pass
    else:
        outage += (DriverException, NoHostAvailable, ConnectionException)
        refusal = (RequestValidationException,)  # invalid query, unauthorized, ...
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, refusal):
            return False
        if isinstance(link, outage):
            return True
        link = link.__cause__ or link.__context__
    return False
