"""Verify an audit bundle: its digest, its records against the store, its answer against
the question asked again, and the source events where the archive still holds them.

See docs/queries.md ("Audit bundles"). Source events are looked up through a
``SourceEvents`` callable (the command line reads event logs; a Kafka position is
not looked up): given the provenances' ``source`` positions, it returns for each one
the archive holds the event id and event time found there, or ``MISSING`` when the
archive holds the file but not that position; a position it leaves out is counted
as unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetgraph.serving.queries.audit_answer import answer
from fleetgraph.serving.queries.audit_bundle import NotABundle, canonical, digest_of, question_of
from fleetgraph.serving.queries.audit_records import (
    Json,
    describe_edge,
    edge_json,
    edge_key,
    node_json,
    read_edges,
    read_nodes,
)
from fleetgraph.serving.times import to_datetime
from fleetgraph.storage.base import GraphStore

MISSING = ("", -1)
SourceEvents = Callable[[Collection[str]], Mapping[str, tuple[str, int]]]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """What no longer matches: the record or part of the bundle, and how."""

    subject: str  # "digest", "edge <type> <from> -> <to>", "node <id>", "answer.<part>"
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.detail}"


@dataclass
class Verification:
    digest_ok: bool = True
    edges: int = 0
    nodes: int = 0
    events_checked: int = 0
    events_unchecked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.digest_ok and not self.mismatches


def verify_bundle(store: GraphStore, bundle: Mapping[str, Any],
                  source_events: SourceEvents | None = None) -> Verification:
    """Every check of the bundle; ``mismatches`` lists what no longer matches
    (NotABundle when it is no bundle or its records are malformed)."""
    try:
        return _verify(store, bundle, source_events)
    except (KeyError, TypeError, AttributeError) as exc:
        raise NotABundle(f"the bundle's records are malformed: {exc!r}") from exc


def _verify(store: GraphStore, bundle: Mapping[str, Any],
            source_events: SourceEvents | None) -> Verification:
    question = question_of(bundle)
    result = Verification()
    if bundle.get("digest") != digest_of(bundle):
        result.digest_ok = False
        result.mismatches.append(Mismatch(
            "digest", f"the bundle says {bundle.get('digest')!r}, its content hashes to "
            f"{digest_of(bundle)!r}: the file was changed after export"))
    records = bundle.get("records") or {}
    edges: list[Json] = list(records.get("edges") or [])
    nodes: list[Json] = list(records.get("nodes") or [])
    _check_edges(store, edges, result)
    _check_nodes(store, nodes, result)
    again = answer(store, question).json
    for part in sorted(set(again) | set(bundle.get("answer") or {})):
        _compare(f"answer.{part}", (bundle.get("answer") or {}).get(part), again.get(part),
                 result)
    if source_events is not None:
        labelled = [(describe_edge(edge_key(e)), e.get("origin")) for e in edges]
        labelled += [(f"node {n['id']}", n.get("origin")) for n in nodes]
        latest = [(label, o["latest"]) for label, o in labelled
                  if isinstance(o, dict) and isinstance(o.get("latest"), dict)]
        found = source_events({str(p.get("source")) for _, p in latest})
        for label, provenance in latest:
            _check_source(label, provenance, found, result)
    return result


def _check_edges(store: GraphStore, edges: list[Json], result: Verification) -> None:
    stored = read_edges(store, [edge_key(e) for e in edges])
    result.edges = len(edges)
    for edge in edges:
        key = edge_key(edge)
        record = stored.get(key)
        now = None if record is None else edge_json(record)
        _compare_record(describe_edge(key), edge, now, result)


def _check_nodes(store: GraphStore, nodes: list[Json], result: Verification) -> None:
    stored = read_nodes(store, [str(n["id"]) for n in nodes])
    result.nodes = len(nodes)
    for node in nodes:
        record = stored.get(str(node["id"]))
        _compare_record(f"node {node['id']}", node, None if record is None
                        else node_json(record), result)


def _compare_record(label: str, then: Json, now: Json | None, result: Verification) -> None:
    if now is None:
        result.mismatches.append(Mismatch(label, "no longer in the store"))
        return
    then_props, now_props = then.get("props") or {}, now["props"]
    for name in sorted(set(then_props) | set(now_props)):
        if _same(then_props.get(name), now_props.get(name)):
            continue
        result.mismatches.append(Mismatch(
            label, f"property {name} was {_show(then_props.get(name))}, "
            f"the store has {_show(now_props.get(name))}"))
    for name, was, is_ in _origin_changes(then.get("origin"), now["origin"]):
        result.mismatches.append(Mismatch(
            label, f"provenance {name} was {_show(was)}, the store has {_show(is_)}"))


def _origin_changes(then: Json | None, now: Json | None) -> list[tuple[str, Any, Any]]:
    flat_then, flat_now = _flatten(then), _flatten(now)
    return [(name, flat_then.get(name), flat_now.get(name))
            for name in sorted(set(flat_then) | set(flat_now))
            if not _same(flat_then.get(name), flat_now.get(name))]


def _flatten(origin: Json | None, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in (origin or {}).items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat


def _compare(part: str, then: Any, now: Any, result: Verification) -> None:
    if _same(then, now):
        return
    if isinstance(then, dict) and isinstance(now, dict):
        for name in sorted(set(then) | set(now)):
            _compare(f"{part}.{name}", then.get(name), now.get(name), result)
    elif isinstance(then, list) and isinstance(now, list):
        was = {canonical({"v": v}): v for v in then}
        is_ = {canonical({"v": v}): v for v in now}
        gone, new = [was[k] for k in was if k not in is_], [is_[k] for k in is_ if k not in was]
        if gone:
            result.mismatches.append(Mismatch(part, f"{len(gone)} no longer in the answer, "
                                              f"e.g. {_show(gone[0])}"))
        if new:
            result.mismatches.append(Mismatch(part, f"{len(new)} new in the answer, "
                                              f"e.g. {_show(new[0])}"))
        if not gone and not new:
            result.mismatches.append(Mismatch(part, "the same items in another order"))
    else:
        result.mismatches.append(Mismatch(part, f"was {_show(then)}, now {_show(now)}"))


def _check_source(label: str, latest: Json, archive: Mapping[str, tuple[str, int]],
                  result: Verification) -> None:
    found = archive.get(str(latest.get("source")))
    if found is None:
        result.events_unchecked += 1
        return
    result.events_checked += 1
    where = latest.get("source")
    if found == MISSING:
        result.mismatches.append(Mismatch(label, f"no source event at {where} in the archive"))
        return
    event_id, event_time = found
    if event_id != latest.get("event_id") or event_time != latest.get("event_time"):
        result.mismatches.append(Mismatch(
            label, f"the source event at {where} is {event_id} at {_time(event_time)}; the "
            f"bundle says {latest.get('event_id')} at {_time(latest.get('event_time'))}"))


def _same(a: Any, b: Any) -> bool:
    return canonical({"v": a}) == canonical({"v": b})


def _show(value: Any) -> str:
    text = canonical({"v": value}).decode("utf-8")[5:-1]
    return text if len(text) <= 200 else text[:197] + "..."


def _time(us: Any) -> str:
    value = to_datetime(us) if isinstance(us, int) else None
    return str(us) if value is None else value.isoformat()
