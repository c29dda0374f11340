"""Audit bundles: one JSON document with a question, the graph's answer, the provenance
of every record the answer rests on, and a digest over the whole.

The format (``format`` ``fleetgraph.audit-bundle``, ``version`` 1) is described in
docs/queries.md ("Audit bundles"). The canonical form is JSON with sorted keys, no
spaces and UTF-8 text; the digest is ``sha256:`` and the hex SHA-256 of the canonical
form of the bundle without its ``digest`` member. Times are µs since the epoch (the
question's window also as ISO 8601 text).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleetgraph.core.version import __version__
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.queries.audit_answer import AuditQuestion, answer
from fleetgraph.serving.queries.audit_records import (
    Json,
    edge_json,
    node_json,
    read_edges,
    read_nodes,
)
from fleetgraph.serving.times import to_datetime
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.delegating import DelegatingStore

FORMAT = "fleetgraph.audit-bundle"
VERSION = 1
DEFAULT_MAX_EDGES = 50_000


class BundleTooLarge(InvalidArgument):
    """The answer rests on more edges than a bundle may carry."""


class NotABundle(InvalidArgument):
    """A document that is not an audit bundle of a version this fleetgraph reads."""


def canonical(document: Mapping[str, Any]) -> bytes:
    """The canonical JSON form: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def digest_of(bundle: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` over the canonical form of ``bundle`` without ``digest``."""
    content = {k: v for k, v in bundle.items() if k != "digest"}
    return "sha256:" + hashlib.sha256(canonical(content)).hexdigest()


def _iso(us: int | None) -> str | None:
    value = to_datetime(us)
    return None if value is None else value.isoformat()


def question_json(question: AuditQuestion, asked_at: int, store_label: str) -> Json:
    return {
        "subject": question.subject, "from": _iso(question.start), "to": _iso(question.end),
        "from_us": question.start, "to_us": question.end,
        "allowed": None if question.allowed is None else sorted(question.allowed),
        "depth": question.depth, "asked_at": _iso(asked_at), "asked_at_us": asked_at,
        "fleetgraph_version": __version__, "store": store_label,
    }


def store_label(store: GraphStore) -> str:
    """Which store answers: ``embedded:<file>``, ``cassandra:<hosts> keyspace prefix <p>``
    (read from the store's own attributes, the embedded store's file ``path`` and the
    Cassandra store's ``config``: serving names no backend)."""
    while isinstance(store, DelegatingStore):
        store = store.inner
    path = getattr(store, "path", None)
    if isinstance(path, str):
        return f"embedded:{Path(path).resolve()}"
    config = getattr(store, "config", None)
    where, prefix = getattr(config, "where", None), getattr(config, "keyspace_prefix", None)
    if where and prefix:
        return f"cassandra:{where} keyspace prefix {prefix}"
    return type(store).__name__


def question_of(bundle: Mapping[str, Any]) -> AuditQuestion:
    """The question a bundle asked (NotABundle when it is not one)."""
    if bundle.get("format") != FORMAT or bundle.get("version") != VERSION:
        raise NotABundle(f"not a {FORMAT} of version {VERSION} (format "
                         f"{bundle.get('format')!r}, version {bundle.get('version')!r})")
    try:
        asked = bundle["question"]
        allowed = asked["allowed"]
        return AuditQuestion(
            subject=str(asked["subject"]), start=asked["from_us"], end=asked["to_us"],
            allowed=None if allowed is None else tuple(allowed), depth=int(asked["depth"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise NotABundle(f"the bundle's question is malformed: {exc!r}") from exc


def export_bundle(store: GraphStore, question: AuditQuestion, *, asked_at: int,
                  store_label: str, max_edges: int = DEFAULT_MAX_EDGES) -> Json:
    """The bundle of ``question`` over ``store``; BundleTooLarge past ``max_edges`` edges."""
    found = answer(store, question)
    if len(found.edges) > max_edges:
        raise BundleTooLarge(
            f"the answer about {question.subject} rests on {len(found.edges):,} edges, more "
            f"than a bundle carries ({max_edges:,}): narrow the window or the depth")
    edges = read_edges(store, found.edges)
    nodes = read_nodes(store, found.nodes)
    bundle: Json = {
        "format": FORMAT,
        "version": VERSION,
        "question": question_json(question, asked_at, store_label),
        "answer": found.json,
        "records": {
            "edges": [edge_json(edges[k]) for k in sorted(edges)],
            "nodes": [node_json(nodes[n]) for n in sorted(nodes)],
        },
    }
    bundle["digest"] = digest_of(bundle)
    return bundle
