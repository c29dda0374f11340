"""A local cluster: several Cassandra nodes and Kafka brokers, one JVM each.

``fleetgraph stack up --cassandra-nodes 3 --kafka-brokers 3`` runs it. Node n of
each kind listens on its own loopback address, ``127.0.0.<n + 1>`` (127.0.0.2,
127.0.0.3, ...), on the usual ports: Cassandra's CQL 9042 and storage 7000 (JMX,
which binds 127.0.0.1, on 7200 + n), Kafka's 9092 and its KRaft controller 9093.
The single-node stack on 127.0.0.1 (:mod:`fleetgraph.infra.stack`) is never
touched: the cluster has its own home (``<stack home>/cluster`` unless given),
its own cluster names and pid files, and takes the jars from the stack home's
cache (fetched there if missing). Heaps are small (Cassandra 640m, Kafka 320m).

    <cluster home>/cluster.json          the cluster's size (status and down read it)
    <cluster home>/conf/<node>/          rendered configuration (node: cassandra-2, kafka-1)
    <cluster home>/data/<node>/          data; data/kafka-cluster.id, the KRaft cluster id
    <cluster home>/logs/<node>/          <node>.out and system.log / server.log
    <cluster home>/run/<node>.pid

Fast to start on a small machine: a fresh cluster's nodes do not bootstrap
(``auto_bootstrap: false``, evenly spaced ``initial_token``), do not wait for
gossip to settle and use a one-second ring delay; the Kafka brokers (all voters
of the controller quorum, which needs a majority to elect a leader) start
together while the Cassandra nodes start one after another, each waited for
before the next. A node that does not answer within its deadline is a StackError
naming it and the tail of its log; what the call started is then stopped.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetgraph.infra.stack import (
    _START_MARK,
    CASSANDRA,
    KAFKA,
    LocalStack,
    Report,
    ServerStatus,
    StackEndpoints,
    StackError,
    _fetch_one,
    _locked,
    _no_report,
    _pid_alive,
    _read_pid,
    _render,
    _signal,
    _spawn,
    _stop_pids,
    _tail,
    _wait_gone,
    cassandra_answers,
    cassandra_argv,
    find_java_home,
    format_kafka_storage,
    is_fetched,
    kafka_answers,
    kafka_argv,
    port_open,
    stack_home,
    stack_settings,
)
from fleetgraph.settings import StackSettings

CLUSTER_NAME = "fleetgraph-cluster"
FIRST_HOST = 2  # node 1 is 127.0.0.2: 127.0.0.1 belongs to the single-node stack
CASSANDRA_PORT = 9042
STORAGE_PORT = 7000
JMX_BASE_PORT = 7200  # node n: 7200 + n (JMX binds 127.0.0.1, shared by every node)
KAFKA_PORT = 9092
CONTROLLER_PORT = 9093
CASSANDRA_HEAP = "640m"
KAFKA_HEAP = "320m"
NODE_TIMEOUT = 150.0  # seconds one node may take to answer
STOP_TIMEOUT = 30.0
MAX_NODES = 9
MANIFEST = "cluster.json"


@dataclass(frozen=True)
class Node:
    """One JVM of the cluster: ``cassandra-<index>`` or ``kafka-<index>`` (from 1)."""

    kind: str
    index: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index}"

    @property
    def address(self) -> str:
        return f"127.0.0.{FIRST_HOST - 1 + self.index}"

    @property
    def port(self) -> int:
        """The port clients use: CQL, or Kafka's bootstrap port."""
        return CASSANDRA_PORT if self.kind == CASSANDRA else KAFKA_PORT

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(frozen=True)
class ClusterLayout(LocalStack):
    """A cluster's size, heaps and home; the jars come from ``jar_home``'s cache."""

    jar_home: Path = Path()
    cassandra_nodes: int = 3
    kafka_brokers: int = 3
    cassandra_heap: str = CASSANDRA_HEAP
    kafka_heap: str = KAFKA_HEAP

    @classmethod
    def for_size(
        cls,
        cassandra_nodes: int | None = None,
        kafka_brokers: int | None = None,
        *,
        home: Path | None = None,
        settings: StackSettings | None = None,
        cassandra_heap: str = CASSANDRA_HEAP,
        kafka_heap: str = KAFKA_HEAP,
    ) -> ClusterLayout:
        """The cluster in ``home`` (``<stack home>/cluster`` by default). A size not
        given is the one its manifest records (a running cluster's), else 3."""
        section = settings or stack_settings()
        jar_home = stack_home(section)
        home = (home or jar_home / "cluster").expanduser().resolve()
        recorded = _read_manifest(home)
        sizes = {CASSANDRA: cassandra_nodes, KAFKA: kafka_brokers}
        for kind, size in sizes.items():
            if size is None:
                sizes[kind] = recorded.get(kind, 3)
            elif not 1 <= size <= MAX_NODES:
                raise StackError(f"a cluster has 1 to {MAX_NODES} {kind} nodes, not {size}")
        return cls(section, home, jar_home, sizes[CASSANDRA] or 3, sizes[KAFKA] or 3,
                   cassandra_heap, kafka_heap)

    def lib_dir(self, server: str) -> Path:
        return self.jar_home / "lib" / server.split("-")[0]

    @property
    def jars(self) -> LocalStack:
        """The stack whose jar cache the cluster uses."""
        return LocalStack(self.settings, self.jar_home)

    @property
    def cassandra(self) -> list[Node]:
        return [Node(CASSANDRA, i) for i in range(1, self.cassandra_nodes + 1)]

    @property
    def kafka(self) -> list[Node]:
        return [Node(KAFKA, i) for i in range(1, self.kafka_brokers + 1)]

    @property
    def nodes(self) -> list[Node]:
        return [*self.cassandra, *self.kafka]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise StackError(f"no node {name!r} in the cluster at {self.home}: "
                         f"{', '.join(n.name for n in self.nodes)}")

    @property
    def topic_replication(self) -> int:
        """Copies of each topic: 3, or fewer on a smaller cluster."""
        return min(3, self.kafka_brokers)

    @property
    def topic_min_insync(self) -> int:
        """A write needs a majority of a topic's replicas: one broker may be down."""
        return self.topic_replication // 2 + 1

    @property
    def keyspace_replication(self) -> int:
        return min(3, self.cassandra_nodes)


def _read_manifest(home: Path) -> dict[str, int]:
    try:
        data = json.loads((home / MANIFEST).read_text())
        return {k: int(v) for k, v in data.items() if k in (CASSANDRA, KAFKA)}
    except (OSError, ValueError, AttributeError):
        return {}


def endpoints(layout: ClusterLayout) -> StackEndpoints:
    return StackEndpoints(
        kafka_bootstrap_servers=",".join(n.where for n in layout.kafka),
        cassandra_contact_points=tuple(n.address for n in layout.cassandra),
        cassandra_port=CASSANDRA_PORT,
    )


def environment(layout: ClusterLayout) -> dict[str, str]:
    """The FLEETGRAPH_* variables that point workers, the server and the CLI at the
    cluster: its servers, three copies of everything, QUORUM reads and writes."""
    ends = endpoints(layout)
    return {
        "FLEETGRAPH_KAFKA_BOOTSTRAP": ends.kafka_bootstrap_servers,
        "FLEETGRAPH_TOPIC_REPLICATION_FACTOR": str(layout.topic_replication),
        "FLEETGRAPH_TOPIC_MIN_INSYNC_REPLICAS": str(layout.topic_min_insync),
        "FLEETGRAPH_STORE": "cassandra",
        "FLEETGRAPH_CASSANDRA_HOSTS": ",".join(ends.cassandra_contact_points),
        "FLEETGRAPH_CASSANDRA_PORT": str(ends.cassandra_port),
        "FLEETGRAPH_REPLICATION": str(layout.keyspace_replication),
        "FLEETGRAPH_CASSANDRA_WRITE_CONSISTENCY": "QUORUM",
        "FLEETGRAPH_CASSANDRA_READ_CONSISTENCY": "QUORUM",
    }


# --------------------------------------------------------------------------
# Configuration


def _token(index: int, count: int) -> int:
    """Evenly spaced Murmur3 tokens: node ``index`` (from 1) of ``count``."""
    return -(2**63) + (index - 1) * (2**64 // count)


def _cassandra_command(layout: ClusterLayout, node: Node, java_home: Path) -> list[str]:
    seeds = ",".join(f"{n.address}:{STORAGE_PORT}" for n in layout.cassandra[:2])
    keys = (f"auto_bootstrap: false\n"
            f"initial_token: {_token(node.index, layout.cassandra_nodes)}\n")
    return cassandra_argv(
        layout, node.name, java_home, cluster_name=CLUSTER_NAME, address=node.address,
        seeds=seeds, storage_port=STORAGE_PORT, native_port=CASSANDRA_PORT,
        jmx_port=JMX_BASE_PORT + node.index, heap=layout.cassandra_heap, cluster_yaml=keys,
    )  # fmt: skip


def _kafka_command(layout: ClusterLayout, node: Node, java_home: Path) -> list[str]:
    voters = ",".join(f"{n.index}@{n.address}:{CONTROLLER_PORT}" for n in layout.kafka)
    properties = _render(
        "kafka-cluster.properties", layout.conf_dir(node.name) / "server.properties",
        node_id=node.index, voters=voters, address=node.address, kafka_port=KAFKA_PORT,
        controller_port=CONTROLLER_PORT, log_dirs=layout.data_dir(node.name) / "kraft-logs",
        replication=layout.topic_replication, min_insync=layout.topic_min_insync,
    )  # fmt: skip
    return kafka_argv(layout, node.name, java_home, properties, layout.kafka_heap)


# --------------------------------------------------------------------------
# Processes


def running_pid(layout: ClusterLayout, node: Node) -> int | None:
    pid = _read_pid(layout, node.name)
    return pid if pid is not None and _pid_alive(layout, node.name, pid) else None


def _answers(layout: ClusterLayout, node: Node, ready: bool = False, peers: int = 0) -> str:
    """A short description if ``node`` answers: a Cassandra node that knows ``peers``
    others; a broker (``ready``: of a cluster with every broker, taking writes and
    consumer groups)."""
    if node.kind == KAFKA:
        return kafka_answers(node.port, host=node.address, make_ready_topic=ready,
                             brokers=layout.kafka_brokers if ready else 1)
    version = cassandra_answers(node.port, host=node.address, peers=peers)
    return f"release {version}" if version else ""


def _not_answering(layout: ClusterLayout, node: Node, why: str) -> StackError:
    out, log = layout.out_file(node.name), layout.main_log(node.name)
    return StackError(
        f"{node.name} ({node.where}) {why}.\n"
        f"--- {out}\n{_tail(out, lines=15, since=_START_MARK)}\n--- {log}\n{_tail(log)}")


def _start(layout: ClusterLayout, node: Node, java_home: Path, report: Report) -> int:
    if port_open(node.port, host=node.address):
        raise StackError(f"{node.name}: {node.where} is taken by a process that is not "
                         f"{node.name} of the cluster at {layout.home}; stop it first")
    if node.kind == KAFKA:
        command = _kafka_command(layout, node, java_home)
        format_kafka_storage(layout, node.name, java_home,
                             layout.home / "data" / "kafka-cluster.id", report)
    else:
        command = _cassandra_command(layout, node, java_home)
    for path in (layout.data_dir(node.name), layout.log_dir(node.name)):
        path.mkdir(parents=True, exist_ok=True)
    pid = _spawn(layout, node.name, command, java_home)
    report(f"{node.name}: started pid {pid} on {node.where}, log {layout.main_log(node.name)}")
    return pid


def _wait(layout: ClusterLayout, nodes: Mapping[Node, int | None], timeout: float,
          report: Report, began: float, peers: int = 0) -> None:
    """Until every node answers (a Cassandra node knowing ``peers`` others, a broker
    ready); a StackError naming the first that dies or outlasts ``timeout``."""
    deadline = time.monotonic() + timeout
    waiting = dict(nodes)
    while waiting:
        for node, pid in list(waiting.items()):
            if pid is not None and not _pid_alive(layout, node.name, pid):
                raise _not_answering(layout, node, f"died while starting (pid {pid})")
            detail = _answers(layout, node, ready=True, peers=peers)
            if detail:
                report(f"{node.name}: answering on {node.where} after "
                       f"{time.monotonic() - began:.1f} s ({detail})")
                del waiting[node]
            elif time.monotonic() > deadline:
                raise _not_answering(layout, node, f"did not answer within {timeout:.0f} s")
        if waiting:
            time.sleep(0.5)


def _write_manifest(layout: ClusterLayout) -> None:
    recorded = _read_manifest(layout.home)
    wanted = {CASSANDRA: layout.cassandra_nodes, KAFKA: layout.kafka_brokers}
    if recorded and recorded != wanted and (layout.home / "data").is_dir():
        raise StackError(
            f"the cluster at {layout.home} has {recorded[CASSANDRA]} Cassandra nodes and "
            f"{recorded[KAFKA]} Kafka brokers, not {wanted[CASSANDRA]} and {wanted[KAFKA]}: "
            "`fleetgraph stack down --cluster --wipe` first")
    layout.home.mkdir(parents=True, exist_ok=True)
    (layout.home / MANIFEST).write_text(json.dumps(wanted) + "\n")


def ensure_up(layout: ClusterLayout, timeout: float = NODE_TIMEOUT,
              report: Report = _no_report,
              first_node_up: Callable[[StackEndpoints], None] | None = None) -> StackEndpoints:
    """Fetch the jars if needed, start every node that is not running and wait until
    the whole cluster answers; ``timeout`` is each node's deadline. A node already
    running is kept (a killed one is started again, on its data).

    ``first_node_up`` runs when this call started the first Cassandra node and it
    answers, before the next starts: schema changes (creating keyspaces) are several
    times faster on one node than on three that must agree, and the nodes that join
    after it take the schema from it."""
    began = time.monotonic()
    _write_manifest(layout)
    for kind in (CASSANDRA, KAFKA):
        if not is_fetched(kind, layout.settings):
            with _locked(layout.jars):
                _fetch_one(layout.jars, kind, report)
    java_home = find_java_home(layout.settings)
    with _locked(layout):
        started: dict[str, int] = {}
        try:
            brokers: dict[Node, int | None] = {}
            for node in layout.kafka:  # a quorum needs a majority: start them together
                pid = running_pid(layout, node)
                if pid is None:
                    pid = started[node.name] = _start(layout, node, java_home, report)
                brokers[node] = pid
            for node in layout.cassandra:  # one after another, each waited for
                pid = running_pid(layout, node)
                fresh = pid is None
                if pid is None:
                    pid = started[node.name] = _start(layout, node, java_home, report)
                _wait(layout, {node: pid}, timeout, report, began, peers=node.index - 1)
                if fresh and node.index == 1 and first_node_up is not None:
                    first_node_up(endpoints(layout))
                    report(f"{node.name}: first_node_up done after "
                           f"{time.monotonic() - began:.1f} s")
            _wait(layout, brokers, timeout, report, began)
            # every Cassandra node now knows the others (each waited for its peers
            # when it started; the first ones learn of the later ones by gossip)
            _wait(layout, {n: running_pid(layout, n) for n in layout.cassandra}, timeout,
                  report, began, peers=layout.cassandra_nodes - 1)
        except BaseException:
            if started:
                _stop_pids(layout, started, STOP_TIMEOUT, report)
            raise
    return endpoints(layout)


def kill(layout: ClusterLayout, name: str, report: Report = _no_report) -> int:
    """SIGKILL node ``name`` (``cassandra-2``, ``kafka-1``) and wait until it is gone;
    returns its pid. ``ensure_up`` starts it again."""
    node = layout.node(name)
    pid = running_pid(layout, node)
    if pid is None:
        raise StackError(f"{name} is not running in the cluster at {layout.home}")
    _signal(pid, signal.SIGKILL)
    if _wait_gone(layout, {name: pid}, 10.0):
        raise StackError(f"{name} (pid {pid}) still runs after SIGKILL")
    report(f"{name}: killed pid {pid}")
    return pid


def status(layout: ClusterLayout) -> list[ServerStatus]:
    rows = []
    for node in layout.nodes:
        pid = running_pid(layout, node)
        detail = _answers(layout, node)
        if not detail:
            detail = ("not answering" if pid or port_open(node.port, host=node.address)
                      else "stopped")
        rows.append(ServerStatus(node.name, node.port, pid, detail.startswith(("release",
                                 "cluster id")), detail, layout.main_log(node.name)))
    return rows


def down(layout: ClusterLayout, wipe: bool = False, timeout: float = STOP_TIMEOUT,
         report: Report = _no_report, only: Sequence[str] | None = None) -> None:
    """Stop the cluster's nodes (all, or the named ones): SIGTERM, SIGKILL after
    ``timeout``. With wipe, delete the cluster home (the jar cache is elsewhere)."""
    if not layout.home.is_dir():
        report(f"nothing to stop: {layout.home} does not exist")
        return
    nodes = [layout.node(name) for name in only] if only else layout.nodes
    with _locked(layout):
        pids: dict[str, int] = {}
        for node in nodes:
            pid = running_pid(layout, node)
            if pid is None:
                layout.pid_file(node.name).unlink(missing_ok=True)
            else:
                pids[node.name] = pid
        _stop_pids(layout, pids, timeout, report)
        if wipe and not only:
            for part in ("conf", "data", "logs", "run", MANIFEST):
                path = layout.home / part
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        path.unlink()
            report(f"wiped {layout.home} (jar cache kept in {layout.jar_home / 'lib'})")
