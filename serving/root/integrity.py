"""The integrity report for ops: dangling references and impossible sequences."""

from __future__ import annotations

import asyncio

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.queries import integrity as integrity_query
from fleetgraph.serving.queries.integrity_rules import IntegrityKind as Kind
from fleetgraph.serving.types.field import field
from fleetgraph.serving.types.integrity import IntegrityFinding, IntegrityKind, IntegrityReport

MAX_FIRST = 1000


@strawberry.type
class IntegrityQuery:
    @field(
        description="Ops only. Nodes referenced but never installed and impossible event "
        "sequences (of 'kinds', all by default), each with the records and events that "
        f"caused it, at most 'first' ({MAX_FIRST} at most) a page. A full scan, "
        f"{integrity_query.MAX_SCANNED:,} nodes at most per request. See docs/queries.md."
    )
    async def integrity(
        self,
        info: Info,
        kinds: list[IntegrityKind] | None = None,  # type: ignore[valid-type]
        first: int = 100,
        after: str | None = None,
    ) -> IntegrityReport:
        if not 1 <= first <= MAX_FIRST:
            raise InvalidArgument(f"'first' must be between 1 and {MAX_FIRST}, got {first}")
        wanted: list[Kind] = list(kinds or [])
        page = await asyncio.to_thread(
            integrity_query.integrity_page, info.context.store, info.context.registry,
            first, after, wanted,
        )
        return IntegrityReport(
            items=[IntegrityFinding(row=f) for f in page.findings],
            end_cursor=page.next_cursor,
            has_next_page=page.next_cursor is not None,
            scanned=page.scanned,
        )
