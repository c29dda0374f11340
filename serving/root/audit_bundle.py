"""Audit bundles for the auditor: a question, the answer and the events behind it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import strawberry

from fleetgraph.serving.context import Info
from fleetgraph.serving.queries.audit_answer import DEFAULT_DEPTH, AuditQuestion
from fleetgraph.serving.queries.audit_bundle import export_bundle, store_label
from fleetgraph.serving.types.audit_bundle import AuditBundle
from fleetgraph.serving.types.field import field
from fleetgraph.serving.windows import between

MAX_SERVED_EDGES = 5_000


@strawberry.type
class AuditBundleQuery:
    @field(
        description="The audit bundle of a dataset, artifact, model, job or site over "
        "[from, to): its residency (violations when 'allowed' is given), lineage UP and "
        "DOWN to 'depth', the jobs and where they ran, the jurisdictions touched, and the "
        "provenance of every stored edge and node it rests on, with a digest. Refused "
        f"(BAD_USER_INPUT) past {MAX_SERVED_EDGES:,} edges: narrow the window, or export "
        "from the shell. See docs/queries.md."
    )
    async def audit_bundle(
        self,
        info: Info,
        subject: strawberry.ID,
        start: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        end: Annotated[datetime | None, strawberry.argument(name="to")] = None,
        allowed: list[str] | None = None,
        depth: int = DEFAULT_DEPTH,
    ) -> AuditBundle | None:
        window = between(start, end)
        question = AuditQuestion(str(subject), window.start, window.end,
                                 None if allowed is None else tuple(allowed), depth)
        store = info.context.store
        document = await asyncio.to_thread(
            export_bundle, store, question, asked_at=info.context.clock(),
            store_label=store_label(store), max_edges=MAX_SERVED_EDGES)
        return AuditBundle(document=document)
