"""``fleetgraph stack up|down|status|fetch``: run a local single-node Kafka and
Cassandra for development and CI (the library is fleetgraph/infra/stack.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click

from fleetgraph.infra import stack as stack_api

_F = TypeVar("_F", bound=Callable[..., object])


def _say(message: str) -> None:
    click.echo(message, err=True)


@contextmanager
def _stack_errors() -> Iterator[None]:
    try:
        yield
    except stack_api.StackError as exc:
        raise click.ClickException(str(exc)) from exc


def _only_option(func: _F) -> _F:
    decorate = click.option(
        "--only",
        type=click.Choice(stack_api.SERVERS),
        multiple=True,
        help="Act on this server only (repeatable). Default: both.",
    )
    return decorate(func)


@click.group(name="stack")
def stack() -> None:
    """Local single-node Kafka (KRaft) and Cassandra 5.0 on 127.0.0.1.

    Jars come from Maven Central (cached); state lives in the stack home,
    <repo>/.fleetgraph/stack unless FLEETGRAPH_STACK_HOME is set. Ports:
    FLEETGRAPH_KAFKA_PORT (9092), FLEETGRAPH_CASSANDRA_PORT (9042); heaps:
    FLEETGRAPH_KAFKA_HEAP, FLEETGRAPH_CASSANDRA_HEAP (1g).
    """


@stack.command()
@click.option(
    "--timeout",
    type=float,
    default=stack_api.DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds each server may take to answer.",
)
@_only_option
def up(timeout: float, only: tuple[str, ...]) -> None:
    """Fetch (if needed), start and wait until the servers answer."""
    began = time.monotonic()
    with _stack_errors():
        settings = stack_api.stack_settings()
        ends = stack_api.ensure_up(timeout=timeout, settings=settings, only=only, report=_say)
    _say(f"stack up in {time.monotonic() - began:.1f} s (home {stack_api.stack_home(settings)})")
    servers = only or stack_api.SERVERS
    if stack_api.KAFKA in servers:
        click.echo(f"kafka      {ends.kafka_bootstrap_servers}")
    if stack_api.CASSANDRA in servers:
        click.echo(f"cassandra  {ends.cassandra_contact_points[0]}:{ends.cassandra_port}")


@stack.command()
@click.option("--wipe", is_flag=True, help="Also delete data and logs (the jar cache stays).")
@click.option(
    "--timeout",
    type=float,
    default=stack_api.STOP_TIMEOUT,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
@_only_option
def down(wipe: bool, timeout: float, only: tuple[str, ...]) -> None:
    """Stop the servers started from the stack home."""
    with _stack_errors():
        stack_api.down(wipe=wipe, only=only, timeout=timeout, report=_say)


@stack.command()
def status() -> None:
    """Show whether each server runs and answers. Exit 1 unless all answer."""
    with _stack_errors():
        settings = stack_api.stack_settings()
        rows = stack_api.status(settings)
    for row in rows:
        running = f"running (pid {row.pid})" if row.pid else "not running from stack home"
        click.echo(
            f"{row.name:<10} {stack_api.HOST}:{row.port:<6} {running:<28} "
            f"{'answering' if row.answering else 'NOT answering':<14} {row.detail}"
        )
    click.echo(f"stack home {stack_api.stack_home(settings)}")
    if not all(row.answering for row in rows):
        click.get_current_context().exit(1)


@stack.command()
@_only_option
def fetch(only: tuple[str, ...]) -> None:
    """Download the servers' jars from Maven Central into the cache."""
    with _stack_errors():
        stack_api.fetch(only=only, report=_say)
        local = stack_api.LocalStack.of()
    for server in only or stack_api.SERVERS:
        click.echo(f"{server:<10} {local.lib_dir(server)}")
