"""``fleetgraph stack up|down|status|fetch``: run a local single-node Kafka and
Cassandra for development and CI (the library is fleetgraph/infra/stack.py), or a
local cluster of them (``--cassandra-nodes 3 --kafka-brokers 3``:
fleetgraph/infra/cluster.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click

from fleetgraph.infra import cluster as cluster_api
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


def _cluster_options(func: _F) -> _F:
    for decorate in (
        click.option("--cassandra-nodes", type=click.IntRange(1, cluster_api.MAX_NODES),
                     default=None, help="A local cluster of this many Cassandra nodes "
                     "(127.0.0.2, 127.0.0.3, ...) instead of the single node."),
        click.option("--kafka-brokers", type=click.IntRange(1, cluster_api.MAX_NODES),
                     default=None, help="A local cluster of this many Kafka brokers."),
        click.option("--cluster", "use_cluster", is_flag=True,
                     help="Act on the local cluster (its size as started)."),
    ):
        func = decorate(func)
    return func


def _cluster(use_cluster: bool, cassandra_nodes: int | None, kafka_brokers: int | None,
             only: tuple[str, ...]) -> cluster_api.ClusterLayout | None:
    """The cluster the options name, or None for the single-node stack."""
    if not (use_cluster or cassandra_nodes or kafka_brokers):
        return None
    if only:
        raise click.UsageError("--only is for the single-node stack; a cluster starts whole")
    return cluster_api.ClusterLayout.for_size(cassandra_nodes, kafka_brokers)


@click.group(name="stack")
def stack() -> None:
    """Local single-node Kafka (KRaft) and Cassandra 5.0 on 127.0.0.1, or a local
    cluster of them (--cassandra-nodes 3 --kafka-brokers 3, on 127.0.0.2-4).

    Jars come from Maven Central (cached); state lives in the stack home,
    <repo>/.fleetgraph/stack unless FLEETGRAPH_STACK_HOME is set (a cluster's in
    its cluster/ folder). Ports: FLEETGRAPH_KAFKA_PORT (9092),
    FLEETGRAPH_CASSANDRA_PORT (9042); heaps: FLEETGRAPH_KAFKA_HEAP,
    FLEETGRAPH_CASSANDRA_HEAP (1g; a cluster's nodes 320m and 640m).
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
@_cluster_options
def up(timeout: float, only: tuple[str, ...], use_cluster: bool, cassandra_nodes: int | None,
       kafka_brokers: int | None) -> None:
    """Fetch (if needed), start and wait until the servers answer.

    A cluster prints the environment that points workers, the server and the CLI
    at it (eval "$(fleetgraph stack up --cassandra-nodes 3 --kafka-brokers 3)")."""
    began = time.monotonic()
    with _stack_errors():
        layout = _cluster(use_cluster, cassandra_nodes, kafka_brokers, only)
    if layout is not None:
        with _stack_errors():
            cluster_api.ensure_up(layout, timeout=timeout, report=_say)
        _say(f"cluster up in {time.monotonic() - began:.1f} s (home {layout.home})")
        for name, value in cluster_api.environment(layout).items():
            click.echo(f"export {name}={value}")
        return
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
@_cluster_options
def down(wipe: bool, timeout: float, only: tuple[str, ...], use_cluster: bool,
         cassandra_nodes: int | None, kafka_brokers: int | None) -> None:
    """Stop the servers started from the stack home (or the cluster's nodes)."""
    with _stack_errors():
        layout = _cluster(use_cluster, cassandra_nodes, kafka_brokers, only)
        if layout is not None:
            cluster_api.down(layout, wipe=wipe, timeout=timeout, report=_say)
        else:
            stack_api.down(wipe=wipe, only=only, timeout=timeout, report=_say)


@stack.command()
@_cluster_options
def status(use_cluster: bool, cassandra_nodes: int | None, kafka_brokers: int | None) -> None:
    """Show whether each server runs and answers. Exit 1 unless all answer."""
    with _stack_errors():
        settings = stack_api.stack_settings()
        layout = _cluster(use_cluster, cassandra_nodes, kafka_brokers, ())
        if layout is not None:
            rows = cluster_api.status(layout)
            where = {n.name: n.address for n in layout.nodes}
        else:
            rows = stack_api.status(settings)
            where = {}
    for row in rows:
        running = f"running (pid {row.pid})" if row.pid else "not running from stack home"
        address = f"{where.get(row.name, stack_api.HOST)}:{row.port}"
        click.echo(
            f"{row.name:<12} {address:<16} {running:<28} "
            f"{'answering' if row.answering else 'NOT answering':<14} {row.detail}"
        )
    click.echo(f"stack home {layout.home if layout else stack_api.stack_home(settings)}")
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
