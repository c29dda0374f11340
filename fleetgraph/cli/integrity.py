"""``fleetgraph integrity``: the integrity report of a store, streamed (docs/queries.md)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from fleetgraph.cli.stored_graph import stored_graph
from fleetgraph.graph_model import FLEET
from fleetgraph.serving.queries.integrity import all_findings
from fleetgraph.serving.queries.integrity_rules import Finding, IntegrityKind, describe
from fleetgraph.settings import Settings
from fleetgraph.storage.factory import STORES, open_store

KIND_NAMES = [k.value for k in IntegrityKind]


def finding_json(finding: Finding) -> dict[str, Any]:
    """One finding as a JSON object (times in µs since the epoch, as stored)."""
    return {
        "kind": finding.kind.value,
        "category": "REFERENCE" if finding.kind.is_reference else "SEQUENCE",
        "subject_id": finding.subject_id,
        "detail": finding.detail,
        "records": [
            {"record": describe(r), "properties": r.props,
             "created_by": r.origin.created_by if r.origin else None,
             "latest_event": r.origin.latest.event_id if r.origin else None}
            for r in finding.records
        ],
        "events": [
            {"event_id": e.event_id, "event_time": e.event_time, "source": e.source,
             "wrote": e.wrote}
            for e in finding.events()
        ],
    }


def finding_text(finding: Finding) -> str:
    lines = [f"{finding.kind.value:<24} {finding.subject_id}", f"    {finding.detail}"]
    for event in finding.events():
        where = f" at {event.source}" if event.source else ""
        lines.append(f"    event {event.event_id}{where}: {event.wrote}")
    return "\n".join(lines)


@click.command()
@click.option("--store", "store_kind", type=click.Choice(STORES), default=None,
              help="[env FLEETGRAPH_STORE; default embedded]")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="Embedded store file [default: <data-dir>/graph.sqlite].")
@click.option("--kind", "kinds", type=click.Choice(KIND_NAMES), multiple=True,
              help="Only findings of this kind (repeat for several) [default: all].")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per finding per line (JSON Lines), no summary.")
@click.pass_context
def integrity(ctx: click.Context, store_kind: str | None, db: Path | None,
              kinds: tuple[str, ...], as_json: bool) -> None:
    """List nodes referenced but never installed and impossible event sequences, each
    with the events that caused them. A full scan of the store, a page at a time."""
    settings = ctx.find_object(Settings)
    assert settings is not None
    kind, path = stored_graph(settings, store_kind, db)
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    with open_store(settings.store, kind=kind, sqlite_path=path) as store:
        for finding in all_findings(store, FLEET, [IntegrityKind(k) for k in kinds]):
            counts[finding.kind.value] += 1
            click.echo(json.dumps(finding_json(finding)) if as_json else finding_text(finding))
    if not as_json:
        by_kind = ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"
        click.echo(f"{sum(counts.values())} findings ({by_kind}) in "
                   f"{time.perf_counter() - started:.1f} s")
