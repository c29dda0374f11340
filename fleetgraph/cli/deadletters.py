"""``fleetgraph deadletters``: list, show and replay refused events.

The embedded ingest's letters are the JSON lines of ``<data-dir>/dead-letters.jsonl``
(``--file`` for another, e.g. one that ``ingest --fresh`` archived); ``--kafka``
reads the workers' dead-letter topic instead. See ``fleetgraph.ingest.deadletter_tools``.
"""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path

import click

from fleetgraph.cli.ingest_store import open_for_ingest
from fleetgraph.ingest.deadletter_tools import (
    Letter,
    described,
    letter_at,
    read_letters,
    replay_file,
    summary_lines,
)
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    return settings if settings is not None else Settings()


def _letters(settings: Settings, file: Path | None,
             kafka: bool) -> tuple[list[Letter], str, frozenset[int], list[str]]:
    """The letters, where they are, which were replayed (Kafka), and their positions."""
    if not kafka:
        path = file or settings.dead_letter_path
        return read_letters(path), str(path), frozenset(), []
    from fleetgraph.ingest.kafka.deadletters import fetch_letters
    from fleetgraph.ingest.kafka.topics import TopicNames

    names = TopicNames(settings.kafka.topic_prefix)
    items, done = asyncio.run(fetch_letters(settings.kafka.bootstrap, names))
    replayed = frozenset(i for i, item in enumerate(items) if item.position in done)
    where = f"{names.deadletter} on {settings.kafka.bootstrap}"
    return [item.letter for item in items], where, replayed, [item.position for item in items]


_file = click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None,
                     help="Dead-letter file [default: <data-dir>/dead-letters.jsonl].")
_kafka = click.option("--kafka", is_flag=True, help="The dead-letter topic "
                      "(<prefix>deadletter on FLEETGRAPH_KAFKA_BOOTSTRAP).")


@click.group()
def deadletters() -> None:
    """Refused events: count, read and replay them."""


@deadletters.command("list")
@_file
@_kafka
@click.option("--reason", default=None, help="Only the letters of this reason.")
@click.pass_context
def list_letters(ctx: click.Context, file: Path | None, kafka: bool, reason: str | None) -> None:
    """Counts by reason, then a line per letter: index, reason, topic, source, detail."""
    letters, where, replayed, _ = _letters(_settings(ctx), file, kafka)
    for line in summary_lines(letters, where, reason=reason, replayed=replayed):
        click.echo(line)


@deadletters.command("show")
@click.argument("index", type=int)
@_file
@_kafka
@click.pass_context
def show_letter(ctx: click.Context, index: int, file: Path | None, kafka: bool) -> None:
    """One letter whole (INDEX as `list` prints it), its payload decoded."""
    letters, where, replayed, positions = _letters(_settings(ctx), file, kafka)
    shown = described(letter_at(letters, index, where), load_event_codec())
    if positions:
        shown["dead_letter_position"] = positions[index]
        shown["replayed"] = index in replayed
    click.echo(json.dumps(shown, indent=2, default=repr))


@deadletters.command("replay")
@_file
@_kafka
@click.option("--reason", default=None, help="Only the letters of this reason.")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="Embedded store file [default: <data-dir>/graph.sqlite].")
@click.pass_context
def replay(ctx: click.Context, file: Path | None, kafka: bool, reason: str | None,
           db: Path | None) -> None:
    """Send letters through the pipeline again (after a fix), idempotently.

    From a file: into the embedded store; the file is replaced by one holding the
    letters not replayed and those refused again, the replayed ones move to
    <name>.replayed.jsonl. With --kafka: back to the topics they came from, for the
    workers; each is marked on <prefix>deadletter.replayed and not sent twice."""
    settings = _settings(ctx)
    if kafka:
        from fleetgraph.ingest.kafka.deadletters import replay_on_kafka
        from fleetgraph.ingest.kafka.topics import TopicNames

        names = TopicNames(settings.kafka.topic_prefix)
        report = asyncio.run(replay_on_kafka(settings.kafka.bootstrap, names,
                                             load_event_codec(), reason))
        for line in report.lines(names):
            click.echo(line)
        return
    path = file or settings.dead_letter_path
    store = db or settings.sqlite_path
    if not store.exists():
        raise click.ClickException(f"no store at {store}: run `fleetgraph ingest` first")
    opener = functools.partial(open_for_ingest, store, fresh=False)
    for line in replay_file(settings, path, opener, reason).lines(path):
        click.echo(line)
