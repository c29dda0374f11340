"""``fleetgraph audit export | verify``: audit bundles (docs/queries.md, "Audit bundles")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from fleetgraph.cli.audit_sources import EventLogArchive
from fleetgraph.serving.queries.audit_answer import DEFAULT_DEPTH, AuditQuestion
from fleetgraph.serving.queries.audit_bundle import (
    DEFAULT_MAX_EDGES,
    NotABundle,
    canonical,
    export_bundle,
    store_label,
)
from fleetgraph.serving.queries.audit_verify import verify_bundle
from fleetgraph.serving.times import now_us, to_us
from fleetgraph.settings import Settings
from fleetgraph.storage.factory import STORES, missing_graph, open_store

_store = click.option("--store", "store_kind", type=click.Choice(STORES), default=None,
                      help="[env FLEETGRAPH_STORE; default embedded]")
_db = click.option("--db", type=click.Path(path_type=Path), default=None,
                   help="Embedded store file [default: <data-dir>/graph.sqlite].")


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None
    return settings


def _instant(text: str | None, name: str) -> int | None:
    """An ISO 8601 time as µs since the epoch (no zone: UTC)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint=name) from exc
    return to_us(value if value.tzinfo else value.replace(tzinfo=UTC))


def _store_path(settings: Settings, kind: str, db: Path | None) -> Path:
    path = db or settings.sqlite_path
    if missing := missing_graph(settings.store, kind=kind, sqlite_path=path):
        raise click.ClickException(f"{missing}: run `fleetgraph ingest` first")
    return path


@click.group()
def audit() -> None:
    """Audit bundles: a question, the graph's answer and the events behind it, in one
    file that can be handed on and verified."""


@audit.command("export")
@click.argument("subject")
@click.option("--from", "start", default=None, help="Window start, ISO 8601 [default: open].")
@click.option("--to", "end", default=None, help="Window end (excluded), ISO 8601 "
              "[default: open].")
@click.option("--allowed", multiple=True, help="An allowed jurisdiction (repeat); with it "
              "the residency lists the violations.")
@click.option("--depth", default=DEFAULT_DEPTH, show_default=True,
              help="Lineage depth in edges.")
@click.option("--max-edges", default=DEFAULT_MAX_EDGES, show_default=True,
              help="Refuse an answer resting on more edges than this.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="The bundle file [default: audit-<subject>.json].")
@_store
@_db
@click.pass_context
def export(ctx: click.Context, subject: str, start: str | None, end: str | None,
           allowed: tuple[str, ...], depth: int, max_edges: int, out: Path | None,
           store_kind: str | None, db: Path | None) -> None:
    """Write the audit bundle of a dataset, artifact, model, job or site over a window."""
    settings = _settings(ctx)
    kind = store_kind or settings.store.kind
    question = AuditQuestion(subject, _instant(start, "--from"), _instant(end, "--to"),
                             tuple(allowed) if allowed else None, depth)
    with open_store(settings.store, kind=kind,
                    sqlite_path=_store_path(settings, kind, db)) as store:
        bundle = export_bundle(store, question, asked_at=now_us(),
                               store_label=store_label(store), max_edges=max_edges)
    path = out or Path(f"audit-{subject.replace(':', '-')}.json")
    path.write_bytes(canonical(bundle) + b"\n")
    records = bundle["records"]
    click.echo(f"wrote {path}: {len(records['edges'])} edges, {len(records['nodes'])} nodes, "
               f"{bundle['digest']}")


@audit.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--events", "logs", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), multiple=True,
              help="An event log holding source events (repeat) [default: "
                   "<data-dir>/events.avro when it exists].")
@_store
@_db
@click.pass_context
def verify(ctx: click.Context, file: Path, logs: tuple[Path, ...], store_kind: str | None,
           db: Path | None) -> None:
    """Check a bundle's digest, its records and answer against the store, and its source
    events against the event logs; exit 1 when anything no longer matches."""
    settings = _settings(ctx)
    kind = store_kind or settings.store.kind
    try:
        bundle = json.loads(file.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotABundle(f"{file} is not JSON: {exc}") from exc
    if not isinstance(bundle, dict):
        raise NotABundle(f"{file} holds no JSON object")
    archive = list(logs) or [p for p in [settings.events_path] if p.exists()]
    with open_store(settings.store, kind=kind,
                    sqlite_path=_store_path(settings, kind, db)) as store:
        result = verify_bundle(store, bundle, EventLogArchive(archive))
    click.echo(f"digest {'ok' if result.digest_ok else 'MISMATCH'}")
    for mismatch in result.mismatches:
        click.echo(str(mismatch))
    click.echo(f"{result.edges} edges, {result.nodes} nodes, {result.events_checked} source "
               f"events checked ({result.events_unchecked} not in the archive): "
               f"{len(result.mismatches)} mismatches")
    if not result.ok:
        ctx.exit(1)
