"""``fleetgraph publish LOG``: send an event log (Avro or JSON lines) to the stack's
source topics, ``<FLEETGRAPH_TOPIC_PREFIX><topic>``, where the workers
(``fleetgraph worker``) take it through the pipeline into the store.

The log is read twice: first every line is checked (a JSON line that is no event
stops the publish before anything is sent, unless ``--skip-bad``), then it is
sent with the producer the simulator uses (keyed by each event's main id, the
missing topics created first). Kafka out of reach is a one-line error and exit
code 1.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import click

from fleetgraph.core.errors import FleetgraphError
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.sources.logs import FORMATS, EventLog
from fleetgraph.schemas import load_event_codec
from fleetgraph.settings import Settings

SHOWN_BAD_LINES = 20


@click.command()
@click.argument("log", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                       path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="LOG's format [default: jsonl for *.jsonl, *.ndjson, *.json, else avro]; "
                   "needed for `-` (standard input).")
@click.option("--skip-bad", is_flag=True,
              help="Send the other lines when some lines are no events (else nothing is sent).")
@click.pass_context
def publish(ctx: click.Context, log: Path, fmt: str | None, skip_bad: bool) -> None:
    """Send an event log to the source topics on Kafka (FLEETGRAPH_KAFKA_BOOTSTRAP,
    FLEETGRAPH_TOPIC_PREFIX); print the messages sent per topic."""
    from fleetgraph.ingest.kafka.producer import publish_messages

    settings = ctx.find_object(Settings)
    assert settings is not None
    codec = load_event_codec()
    bad: list[RejectedEvent] = []

    def refused(message: Message, error: RejectedEvent) -> None:
        bad.append(error)

    events = EventLog(log, codec, fmt=fmt, on_bad_line=refused)
    per_topic = Counter(topic for topic, _ in events.pairs())  # the check, and the counts
    if bad:
        for error in bad[:SHOWN_BAD_LINES]:
            click.echo(f"{events.name}: {error}", err=True)
        if len(bad) > SHOWN_BAD_LINES:
            click.echo(f"... and {len(bad) - SHOWN_BAD_LINES:,} more", err=True)
        if not skip_bad:
            raise click.ClickException(
                f"{len(bad):,} lines of {events.name} are no events: nothing was sent "
                "(fix them, or give --skip-bad to send the others)")
    kafka = settings.kafka
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)  # its retries succeed or end in an error, said here
    try:
        sent = publish_messages(settings, events.pairs())
    except (TimeoutError, FleetgraphError, OSError) as exc:
        raise click.ClickException(_unreachable(kafka.bootstrap, exc)) from None
    except Exception as exc:  # aiokafka's own errors: KafkaConnectionError, ...
        if type(exc).__module__.startswith("aiokafka"):
            raise click.ClickException(_unreachable(kafka.bootstrap, exc)) from None
        raise
    finally:
        client_log.setLevel(level)
    topics = ", ".join(f"{topic} {n:,}" for topic, n in sorted(per_topic.items()))
    click.echo(f"published {sent:,} messages to Kafka at {kafka.bootstrap}: {topics or 'none'} "
               f"(topics {kafka.topic_prefix}<topic>)")
    if bad:
        click.echo(f"skipped {len(bad):,} lines that are no events", err=True)


def _unreachable(bootstrap: str, exc: BaseException) -> str:
    said = " ".join(str(exc).split()) or type(exc).__name__
    return (f"cannot publish to Kafka at {bootstrap} (FLEETGRAPH_KAFKA_BOOTSTRAP): {said}; "
            "is it running? (`fleetgraph stack up --only kafka`)")
