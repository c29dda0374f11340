"""Global, readable ids: ``<type>:<local part>``, e.g. ``cdu:s0042-c1``.

One id names one thing anywhere in the API; its type is the part before the
first colon, so a reader (or a store) knows where to look without a lookup.
"""

from __future__ import annotations

import re

from fleetgraph.graph_model.types import GraphModelError

_ID = re.compile(r"([a-z][a-z0-9_]*):([A-Za-z0-9][A-Za-z0-9_.:@+\-/]*)")
MAX_ID_LENGTH = 256


def parse_id(node_id: str) -> tuple[str, str]:
    """Split an id into (type, local part), or raise GraphModelError."""
    if len(node_id) > MAX_ID_LENGTH:
        raise GraphModelError(f"id is {len(node_id)} characters long (limit {MAX_ID_LENGTH})")
    match = _ID.fullmatch(node_id)  # not "^...$": "$" matches before a final newline too
    if match is None:
        raise GraphModelError(f"{node_id!r} is not a fleetgraph id of the form '<type>:<name>'")
    return match.group(1), match.group(2)


def node_type_of(node_id: str) -> str:
    """The node type named by an id's prefix (not checked against a registry)."""
    head, sep, _ = node_id.partition(":")
    if not sep:
        raise GraphModelError(f"{node_id!r} is not a fleetgraph id of the form '<type>:<name>'")
    return head


def make_id(node_type: str, local: str) -> str:
    return f"{node_type}:{local}"
