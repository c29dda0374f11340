"""The answer of auditBundle: an audit bundle (JSON) and its digest."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from fleetgraph.serving.types.field import field


@strawberry.type(description="An audit bundle: the question, the graph's answer and the "
                 "provenance of every record it rests on (docs/queries.md, 'Audit bundles').")
class AuditBundle:
    document: strawberry.Private[dict[str, Any]]

    @field(description="sha256:<hex> over the canonical JSON of the bundle without it.")
    def digest(self) -> str:
        return str(self.document["digest"])

    @field(description="How many stored edges the bundle carries, with their provenance.")
    def edge_count(self) -> int:
        return len(self.document["records"]["edges"])

    @field(description="The whole bundle, to be saved as it is and checked with "
           "`fleetgraph audit verify FILE`.")
    def bundle(self) -> JSON:
        return JSON(self.document)
