"""``fleetgraph events``: event logs in either format, and what an event holds.

``convert`` turns an Avro event log into JSON lines and back (an Avro log's
messages that are no events stay as their bytes, so a round trip gives the same
log); ``schema`` prints a topic's fields from its Avro schema, or the properties
a node type's attribute map may set (docs/your-data.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.types import Prop
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.sources.logs import FORMATS, STDIO, EventLog, log_format, write_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import RECORD_OF_TOPIC, Topic

SHOWN_BAD_LINES = 20


@click.group()
def events() -> None:
    """Event logs: convert between Avro and JSON lines; the fields of each topic."""


@events.command("convert")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                          path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--from", "from_format", type=click.Choice(FORMATS), default=None,
              help="SOURCE's format [default: by its name; jsonl for *.jsonl, *.ndjson, "
                   "*.json, else avro].")
@click.option("--to", "to_format", type=click.Choice(FORMATS), default=None,
              help="TARGET's format [default: by its name].")
def convert(source: Path, target: Path, from_format: str | None,
            to_format: str | None) -> None:
    """Convert an event log between the Avro container and JSON lines (`-`: standard
    input or output). Every line is checked by the event codec; a line that is no event
    is named with its reason, the others are written, and the exit code is 1."""
    if str(source) != STDIO and str(target) != STDIO and _same(source, target):
        raise click.UsageError("SOURCE and TARGET are the same file")
    codec = load_event_codec()
    bad: list[RejectedEvent] = []

    def refused(message: Message, error: RejectedEvent) -> None:
        bad.append(error)

    log = EventLog(source, codec, fmt=from_format, on_bad_line=refused, once=True)
    written, raw = write_log(target, codec, log.pairs(), fmt=to_format)
    fmt = log_format(target, to_format)
    to_stdout = str(target) == STDIO
    note = f" ({raw:,} kept as raw payloads: they are no events)" if raw else ""
    click.echo(f"wrote {written:,} messages to {'standard output' if to_stdout else target} "
               f"({fmt}){note}", err=to_stdout)
    if bad:
        for error in bad[:SHOWN_BAD_LINES]:
            click.echo(f"{log.name}: {error}", err=True)
        more = len(bad) - SHOWN_BAD_LINES
        if more > 0:
            click.echo(f"... and {more:,} more", err=True)
        raise click.ClickException(f"{len(bad):,} lines of {log.name} are no events and "
                                   "were not written")


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


@events.command("schema")
@click.argument("topic", type=click.Choice([t.value for t in Topic]), required=False)
@click.option("--node", "node_type", type=click.Choice(sorted(FLEET.nodes)), default=None,
              help="Instead: the properties a node type's attribute map may set.")
def schema(topic: str | None, node_type: str | None) -> None:
    """The fields of a topic's events (from schemas/events/*.avsc), or, without TOPIC,
    the topics; with --node, the attributes a node type takes."""
    if node_type is not None:
        _print_props(node_type)
        return
    codec = load_event_codec()
    if topic is None:
        for t in Topic:
            known = codec.newest(RECORD_OF_TOPIC[t])
            click.echo(f"{t.value:<10} {known.name} v{known.version}: "
                       f"{known.parsed.get('doc', '')}")
        click.echo("\n`fleetgraph events schema TOPIC` prints a topic's fields.")
        return
    known = codec.newest(RECORD_OF_TOPIC[Topic(topic)])
    click.echo(f"{topic}: {known.name} v{known.version}")
    click.echo(f'a JSON line: {{"topic": "{topic}", <the fields>}}; a field with a default '
               "may be left out")
    for field in known.parsed["fields"]:
        default = (f" [default {_json(field['default'])}]" if "default" in field
                   else " (required)")
        doc = f"  {field['doc']}" if field.get("doc") else ""
        click.echo(f"  {field['name']:<20} {_type(field['type']):<28}{default}{doc}")
    if any(f["name"] == "attributes" for f in known.parsed["fields"]):
        click.echo("\nattributes: string values, keyed by the properties of the component's "
                   "node type (`fleetgraph events schema --node rack`); an attribute the type "
                   "does not declare is not stored, and reported (unknown_attribute)")


def _print_props(node_type: str) -> None:
    declared = FLEET.node(node_type)
    click.echo(f"{node_type}: {declared.doc}")
    click.echo("attributes it takes (values are strings in events, converted to the kind):")
    for prop in declared.props:
        doc = f"  {prop.doc}" if prop.doc else ""
        click.echo(f"  {prop.name:<22} {prop.kind.value:<7} {_domain(prop)}{doc}")
    click.echo("a new property: add a Prop to its NodeType in graph_model/fleet.py "
               "(docs/your-data.md)")


def _domain(prop: Prop) -> str:
    if prop.choices is not None:
        return "one of " + ", ".join(prop.choices)
    if prop.low is not None or prop.high is not None:
        low = "" if prop.low is None else f"{prop.low:g}"
        high = "" if prop.high is None else f"{prop.high:g}"
        return f"[{low}, {high}]"
    return ""


def _type(avro: Any) -> str:
    """An Avro type, short: null|string, enum(a, b), array<string>, map<string>."""
    if isinstance(avro, list):
        return "|".join(_type(t) for t in avro)
    if isinstance(avro, dict):
        kind = avro["type"]
        if kind == "enum":
            return "enum(" + ", ".join(avro["symbols"]) + ")"
        if kind == "array":
            return f"array<{_type(avro['items'])}>"
        if kind == "map":
            return f"map<{_type(avro['values'])}>"
        if kind == "record":
            inner = ", ".join(f"{f['name']}: {_type(f['type'])}" for f in avro["fields"])
            return "{" + inner + "}"
        return _type(kind)
    return str(avro)


def _json(value: Any) -> str:
    return json.dumps(value)
