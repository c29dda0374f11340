"""integrity: the references and sequences the graph accepted but no real fleet makes.

Events may arrive in any order and the graph converges, so a reference to a node
not (yet) installed, or an end older than its start, is stored as it comes. This
report makes them visible (docs/queries.md, "integrity"): nodes referenced but
never installed (``MISSING_NODE``: an edge names a node with no record;
``NEVER_INSTALLED``: a record only telemetry or references wrote) and impossible
sequences (a job ended before it started or started before it was submitted, an
interval closed but never opened or ending before it starts, a containment edge
first written before the install it holds). The rules are in
:mod:`fleetgraph.serving.queries.integrity_rules`; each finding carries its records, whose
origins name the events that caused it.

Cost: a full scan through the storage interface, streamed a page of
``PAGE_SIZE`` nodes at a time (never the whole graph in memory): per page one
``scan_nodes``, one ``neighbours`` per edge type leaving the page's node type,
and, for MISSING_NODE, one per edge type entering it and one ``get_nodes`` for the
far ends. Every node is read once and every edge twice (once from each end), plus
a lookup of each edge's far end: about N + 3E rows for N nodes and E edges.
Asking only for the job kinds scans the jobs alone. An edge both of whose ends
have no record is not found (no scan reaches it).

Paging: findings come in the scan's order (node type by name, the store's scan
order within a type, by subject within a store page). The cursor names a store
page and how many of its findings were already given, so paging is stateless; a
request stops after ``max_scanned`` nodes even with fewer findings than asked
(possibly none) and says where to go on.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from fleetgraph.graph_model.records import EdgeRecord, NodeRecord
from fleetgraph.graph_model.types import Registry
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.queries.integrity_rules import (
    JOB_KINDS,
    Finding,
    IntegrityKind,
    interval,
    missing_ends,
    node_findings,
)
from fleetgraph.storage.base import Direction, GraphStore

PAGE_SIZE = 500
MAX_SCANNED = 20_000  # nodes per GraphQL request, to stay well within its deadline
ALL_KINDS = frozenset(IntegrityKind)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a report goes on: a node type, a store page of it, findings to skip."""

    node_type: str
    after: str | None
    skip: int

    def encode(self) -> str:
        text = json.dumps([self.node_type, self.after, self.skip])
        return base64.urlsafe_b64encode(text.encode()).decode()

    @classmethod
    def decode(cls, cursor: str, node_types: Sequence[str]) -> Cursor:
        try:
            node_type, after, skip = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        except (ValueError, TypeError, binascii.Error):
            raise InvalidArgument(f"{cursor!r} is not an integrity cursor") from None
        if node_type not in node_types or not isinstance(skip, int) or skip < 0 or not (
            after is None or isinstance(after, str)
        ):
            raise InvalidArgument(f"{cursor!r} is not an integrity cursor for these kinds")
        return cls(node_type, after, skip)


@dataclass(frozen=True, slots=True)
class IntegrityPage:
    findings: list[Finding]
    next_cursor: str | None  # None: the scan is complete
    scanned: int  # nodes read by this request


def node_types_for(registry: Registry, kinds: Collection[IntegrityKind]) -> list[str]:
    """The node types a report of ``kinds`` must scan, by name."""
    if kinds and set(kinds) <= JOB_KINDS:
        return ["job"]
    return sorted(registry.nodes)


def page_findings(store: GraphStore, registry: Registry, records: Sequence[NodeRecord],
                  kinds: Collection[IntegrityKind] = ALL_KINDS) -> list[Finding]:
    """The findings about one page of nodes of one type, sorted (a few batched reads)."""
    if not records:
        return []
    node_type = records[0].type
    ids = [r.id for r in records]
    out_by_type = {
        edge_type: store.neighbours(edge_type, ids, Direction.OUT)
        for edge_type, declared in sorted(registry.edges.items())
        if node_type in declared.from_types
    }
    temporal = registry.node(node_type).temporal
    findings: list[Finding] = []
    for record in records:
        out_edges = {t: by_id.get(record.id, []) for t, by_id in out_by_type.items()}
        findings += node_findings(record, out_edges, temporal)
    out_edges_all = [e for by_id in out_by_type.values() for edges in by_id.values()
                     for e in edges]
    for edge in out_edges_all:
        if registry.edge(edge.type).temporal:
            findings += interval(edge, edge.from_id)
    if IntegrityKind.MISSING_NODE in kinds:
        findings += _missing(store, registry, node_type, ids, out_edges_all)
    return sorted((f for f in findings if f.kind in kinds), key=lambda f: f.sort_key)


def _missing(store: GraphStore, registry: Registry, node_type: str, ids: list[str],
             out_edges: list[EdgeRecord]) -> list[Finding]:
    """Edges of the page whose other end has no record. An edge into the page from a
    missing node is seen only from here, so its interval is checked here too."""
    in_edges = [
        e
        for edge_type, declared in sorted(registry.edges.items())
        if node_type in declared.to_types
        for edges in store.neighbours(edge_type, ids, Direction.IN).values()
        for e in edges
    ]
    far = {e.to_id for e in out_edges} | {e.from_id for e in in_edges}
    existing = set(ids) | set(store.get_nodes(sorted(far - set(ids))))
    findings = missing_ends(out_edges, existing, far_end_is_to=True)
    orphans = [e for e in in_edges if e.from_id not in existing]
    findings += missing_ends(orphans, existing, far_end_is_to=False)
    for edge in orphans:
        if registry.edge(edge.type).temporal:
            findings += interval(edge, edge.from_id)
    return findings


def integrity_page(
    store: GraphStore,
    registry: Registry,
    first: int,
    after: str | None = None,
    kinds: Collection[IntegrityKind] = ALL_KINDS,
    *,
    page_size: int = PAGE_SIZE,
    max_scanned: int = MAX_SCANNED,
) -> IntegrityPage:
    """At most ``first`` findings from ``after`` on, reading at most about
    ``max_scanned`` nodes (whole store pages)."""
    if first < 1:
        raise InvalidArgument(f"'first' must be at least 1, got {first}")
    kinds = frozenset(kinds) or ALL_KINDS
    types = node_types_for(registry, kinds)
    at = Cursor.decode(after, types) if after else Cursor(types[0], None, 0)
    index, node_after, skip = types.index(at.node_type), at.after, at.skip
    findings: list[Finding] = []
    scanned = 0
    while True:
        page = store.scan_nodes(types[index], node_after, page_size)
        scanned += len(page.records)
        found = page_findings(store, registry, page.records, kinds)[skip:]
        room = first - len(findings)
        if len(found) > room:
            findings += found[:room]
            cursor = Cursor(types[index], node_after, skip + room)
            return IntegrityPage(findings, cursor.encode(), scanned)
        findings += found
        skip = 0
        if page.next_after is not None:
            node_after = page.next_after
        elif index + 1 < len(types):
            index, node_after = index + 1, None
        else:
            return IntegrityPage(findings, None, scanned)
        if len(findings) == first or scanned >= max_scanned:
            return IntegrityPage(findings, Cursor(types[index], node_after, 0).encode(), scanned)


def all_findings(
    store: GraphStore,
    registry: Registry,
    kinds: Collection[IntegrityKind] = ALL_KINDS,
    *,
    page_size: int = PAGE_SIZE,
) -> Iterator[Finding]:
    """Every finding, streamed a store page at a time (the CLI's full report)."""
    kinds = frozenset(kinds) or ALL_KINDS
    for node_type in node_types_for(registry, kinds):
        after: str | None = None
        while True:
            page = store.scan_nodes(node_type, after, page_size)
            yield from page_findings(store, registry, page.records, kinds)
            if page.next_after is None:
                break
            after = page.next_after
