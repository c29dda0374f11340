"""Fetch, start, wait for, inspect and stop a local Kafka and Cassandra.

Both servers run as plain JVMs on 127.0.0.1, one node each: Kafka in KRaft
combined mode (no ZooKeeper) and Cassandra 5.0. Their jars come from Maven
Central through Maven (``infra/maven/<server>/pom.xml``) and are cached, with
configuration, data, logs and pid files, under the stack home:

    <stack home>/m2/             Maven's local repository
    <stack home>/lib/<server>/   the server's runtime classpath
    <stack home>/conf/<server>/  configuration rendered from infra/conf/
    <stack home>/data/<server>/  the server's data (``down --wipe`` deletes it)
    <stack home>/logs/<server>/  <server>.out (stdout/stderr) and its own log
    <stack home>/run/<server>.pid

The stack home is ``<repo>/.fleetgraph/stack`` unless FLEETGRAPH_STACK_HOME
says otherwise. The ports, heaps and JDK are the ``stack`` section of the
settings tree (:class:`fleetgraph.settings.StackSettings`), which lists the
other variables.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fleetgraph.core.errors import ConfigError
from fleetgraph.settings import Settings, StackSettings, source_checkout, user_data_home

INFRA_DIR = Path(__file__).resolve().parent
REPO_ROOT = INFRA_DIR.parent
CONF_TEMPLATES = INFRA_DIR / "conf"
MAVEN_PROJECTS = INFRA_DIR / "maven"

KAFKA = "kafka"
CASSANDRA = "cassandra"
SERVERS: tuple[str, ...] = (CASSANDRA, KAFKA)  # Cassandra is slower: start it first

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
KAFKA_READY_TOPIC = "fleetgraph-stack-ready"
_START_MARK = "=== fleetgraph stack: starting at"
JAVA_MAJORS = (17, 11)  # Cassandra 5.0 runs on 11 and 17 only; prefer 17

Report = Callable[[str], None]
_T = TypeVar("_T")


class StackError(Exception):
    """The local stack could not be fetched, started, reached or stopped."""


def _no_report(message: str) -> None:
    del message


# --------------------------------------------------------------------------
# Settings


def _heap_bytes(size: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(size[:-1]) * units[size[-1].lower()] if size[-1].isalpha() else int(size)


PORTS = {  # the stack section's ports and the variables that set them
    "kafka_port": "FLEETGRAPH_KAFKA_PORT",
    "kafka_controller_port": "FLEETGRAPH_KAFKA_CONTROLLER_PORT",
    "cassandra_port": "FLEETGRAPH_CASSANDRA_PORT",
    "cassandra_storage_port": "FLEETGRAPH_CASSANDRA_STORAGE_PORT",
    "cassandra_jmx_port": "FLEETGRAPH_CASSANDRA_JMX_PORT",
}


def stack_settings(environ: Mapping[str, str] | None = None) -> StackSettings:
    """The stack section of the settings tree (:mod:`fleetgraph.settings`), from
    ``environ`` (the process environment when None); a bad value is a StackError
    naming its variable."""
    try:
        section = Settings.from_environ(environ).stack
    except ConfigError as exc:
        raise StackError(str(exc)) from None
    for field, name in PORTS.items():
        value = getattr(section, field)
        if value is not None and not 0 < value < 65536:
            raise StackError(f"{name}={value} is not a port number (1-65535)")
    return section


def stack_home(settings: StackSettings) -> Path:
    """The section's home, or ``<repo>/.fleetgraph/stack`` in a source tree, or
    ``$XDG_DATA_HOME/fleetgraph/stack`` (``~/.local/share/...``) when installed (never
    inside site-packages); absolute."""
    if settings.home:
        home = settings.home.expanduser()
    elif (repo := source_checkout()) is not None:
        home = repo / ".fleetgraph" / "stack"
    else:
        home = user_data_home() / "stack"
    return home.resolve()


@dataclass(frozen=True)
class LocalStack:
    """The stack section with its home resolved: which ports and heaps the servers
    use (``settings``) and where each keeps what."""

    settings: StackSettings
    home: Path

    @classmethod
    def of(cls, settings: StackSettings | None = None) -> LocalStack:
        """``settings``, or the section from the environment."""
        section = settings or stack_settings()
        return cls(section, stack_home(section))

    def port(self, server: str) -> int:
        """The port clients use: Kafka's bootstrap port or Cassandra's native port."""
        ports = {KAFKA: self.settings.kafka_port, CASSANDRA: self.settings.cassandra_port}
        return ports[_check_server(server)]

    def lib_dir(self, server: str) -> Path:
        return self.home / "lib" / server

    def conf_dir(self, server: str) -> Path:
        return self.home / "conf" / server

    def data_dir(self, server: str) -> Path:
        return self.home / "data" / server

    def log_dir(self, server: str) -> Path:
        return self.home / "logs" / server

    def out_file(self, server: str) -> Path:
        return self.log_dir(server) / f"{server}.out"

    def main_log(self, server: str) -> Path:
        return self.log_dir(server) / main_log_name(server)

    def pid_file(self, server: str) -> Path:
        return self.home / "run" / f"{server}.pid"


@dataclass(frozen=True)
class StackEndpoints:
    """How clients reach the stack."""

    kafka_bootstrap_servers: str
    cassandra_contact_points: tuple[str, ...]
    cassandra_port: int


@dataclass(frozen=True)
class ServerStatus:
    name: str
    port: int
    pid: int | None  # the live process started from this stack home, if any
    answering: bool
    detail: str  # e.g. Cassandra's release version, or why it does not answer
    log_file: Path


def endpoints(settings: StackSettings | None = None) -> StackEndpoints:
    s = LocalStack.of(settings)
    return StackEndpoints(
        kafka_bootstrap_servers=f"{HOST}:{s.settings.kafka_port}",
        cassandra_contact_points=(HOST,),
        cassandra_port=s.settings.cassandra_port,
    )


def main_log_name(server: str) -> str:
    """The server's own log file: Kafka's server.log, Cassandra's system.log (also for
    a cluster's nodes, named ``kafka-1``, ``cassandra-2``, ...)."""
    return "server.log" if server.split("-")[0] == KAFKA else "system.log"


def _check_server(server: str) -> str:
    if server not in SERVERS:
        raise StackError(f"unknown server {server!r}: choose from {', '.join(SERVERS)}")
    return server


def _servers(only: Sequence[str] | None) -> tuple[str, ...]:
    wanted = set(only or SERVERS)
    for name in wanted:
        _check_server(name)
    return tuple(name for name in SERVERS if name in wanted)


# --------------------------------------------------------------------------
# Tools: Java 17 and Maven


def _java_major(home: Path) -> int | None:
    if not (home / "bin" / "java").is_file():
        return None
    release = home / "release"
    if release.is_file():
        match = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(errors="replace"), re.M)
        if match:
            return int(match.group(1))
    return None


def find_java_home(settings: StackSettings | None = None) -> Path:
    """A JDK that runs Cassandra 5.0 and Kafka: 17 preferred, else 11."""
    s = LocalStack.of(settings)
    if s.settings.java_home is not None:
        java_home = s.settings.java_home.expanduser()
        if _java_major(java_home) not in JAVA_MAJORS:
            raise StackError(f"FLEETGRAPH_JAVA_HOME={java_home} is not a Java 17 or 11 home")
        return java_home
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    for pattern in (
        "/usr/lib/jvm/*",
        "/opt/java/*",
        "/Library/Java/JavaVirtualMachines/*/Contents/Home",
    ):
        candidates.extend(sorted(Path("/").glob(pattern.lstrip("/"))))
    for major in JAVA_MAJORS:
        for home in candidates:
            if _java_major(home) == major:
                return home
    raise StackError(
        "no Java 17 (or 11) found: Cassandra 5.0 needs one. Install it "
        "(apt-get install openjdk-17-jdk-headless) or set FLEETGRAPH_JAVA_HOME"
    )


def _java(java_home: Path) -> str:
    return str(java_home / "bin" / "java")


def _tail(path: Path, lines: int = 30, since: str | None = None) -> str:
    """The last lines of a log file (after the last line starting with since)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return f"({path} is missing)"
    kept = text.splitlines()
    if since is not None:
        starts = [i for i, line in enumerate(kept) if line.startswith(since)]
        kept = kept[starts[-1] + 1 :] if starts else kept
    return "\n".join(line[:300] for line in kept[-lines:])


def _pom_digest(server: str) -> str:
    return hashlib.sha256((MAVEN_PROJECTS / server / "pom.xml").read_bytes()).hexdigest()


def is_fetched(server: str, settings: StackSettings | None = None) -> bool:
    s = LocalStack.of(settings)
    marker = s.lib_dir(server) / ".fetched"
    return marker.is_file() and marker.read_text().strip() == _pom_digest(server)


def fetch(
    settings: StackSettings | None = None,
    only: Sequence[str] | None = None,
    report: Report = _no_report,
) -> None:
    """Copy each server's runtime jars from Maven Central unless already cached."""
    s = LocalStack.of(settings)
    for server in _servers(only):
        _fetch_one(s, server, report)


def _fetch_one(s: LocalStack, server: str, report: Report) -> None:
    if is_fetched(server, s.settings):
        return
    mvn = s.settings.mvn or shutil.which("mvn")
    if not mvn:
        raise StackError("Maven (mvn) not found on PATH: install it (apt-get install maven)")
    lib = s.lib_dir(server)
    partial = lib.with_name(f"{server}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    report(f"{server}: fetching jars from Maven Central into {lib}")
    started = time.monotonic()
    command = [
        mvn, "-q", "-B", "-Dstyle.color=never",
        "-f", str(MAVEN_PROJECTS / server / "pom.xml"),
        f"-Dmaven.repo.local={s.home / 'm2'}",
        f"-Dfleetgraph.lib.dir={partial}",
        "dependency:copy-dependencies",
    ]  # fmt: skip
    env = dict(os.environ, JAVA_HOME=str(find_java_home(s.settings)))
    try:
        done = subprocess.run(
            command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=1800, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise StackError(f"{server}: Maven did not finish fetching jars in 30 minutes") from None
    if done.returncode != 0 or not any(partial.glob("*.jar")):
        output = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise StackError(
            f"{server}: Maven failed to fetch jars (exit {done.returncode}):\n{output}"
        )
    (partial / ".fetched").write_text(_pom_digest(server) + "\n")
    shutil.rmtree(lib, ignore_errors=True)
    partial.rename(lib)
    report(f"{server}: jars fetched in {time.monotonic() - started:.1f} s")


# --------------------------------------------------------------------------
# Configuration


def _render(template: str, target: Path, **values: object) -> Path:
    text = (CONF_TEMPLATES / template).read_text()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(string.Template(text).substitute({k: str(v) for k, v in values.items()}))
    return target


def _jvm_options(template: str, **values: object) -> list[str]:
    text = string.Template((CONF_TEMPLATES / template).read_text()).substitute(
        {k: str(v) for k, v in values.items()}
    )
    return [line.strip() for line in text.splitlines() if line.strip().startswith("-")]


def _marker_flags(s: LocalStack, server: str) -> list[str]:
    # Let _pid_alive tell our JVM from an unrelated process that reused the pid.
    return [f"-Dfleetgraph.stack.server={server}", f"-Dfleetgraph.stack.home={s.home}"]


def _kafka_command(s: LocalStack, java_home: Path) -> list[str]:
    properties = _render(
        "kafka-server.properties", s.conf_dir(KAFKA) / "server.properties",
        kafka_port=s.settings.kafka_port, controller_port=s.settings.controller_port,
        log_dirs=s.data_dir(KAFKA) / "kraft-logs",
    )  # fmt: skip
    return kafka_argv(s, KAFKA, java_home, properties, s.settings.kafka_heap)


def kafka_argv(s: LocalStack, server: str, java_home: Path, properties: Path,
               heap: str) -> list[str]:
    """The command line of a Kafka broker (``server``: ``kafka`` or a cluster's
    ``kafka-<n>``) with its rendered server.properties."""
    log_dir = s.log_dir(server)
    log4j = _render("kafka-log4j.properties", s.conf_dir(server) / "log4j.properties",
                    log_dir=log_dir)
    options = _jvm_options("kafka-jvm.options", heap=heap, log4j_file=log4j, log_dir=log_dir)
    classpath = str(s.lib_dir(KAFKA) / "*")
    return [_java(java_home), *options, *_marker_flags(s, server), "-cp", classpath,
            "kafka.Kafka", str(properties)]  # fmt: skip


def _format_kafka_storage(s: LocalStack, java_home: Path, report: Report) -> None:
    """Format Kafka's log directory once; later starts reuse its cluster id."""
    format_kafka_storage(s, KAFKA, java_home, s.data_dir(KAFKA) / "cluster.id", report)


def format_kafka_storage(s: LocalStack, server: str, java_home: Path, id_file: Path,
                         report: Report) -> None:
    """Format the log directory of broker ``server`` once with the cluster id kept in
    ``id_file`` (made on first use); later starts reuse it."""
    log_dirs = s.data_dir(server) / "kraft-logs"
    if (log_dirs / "meta.properties").is_file():
        return
    if id_file.is_file():
        cluster_id = id_file.read_text().strip()
    else:
        cluster_id = "-"
        while cluster_id.startswith("-"):  # an id must not look like an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(cluster_id + "\n")
    report(f"{server}: formatting {log_dirs} (cluster id {cluster_id})")
    command = [
        _java(java_home), "-Xmx256m",
        f"-Dlog4j.configuration=file:{s.conf_dir(server) / 'log4j.properties'}",
        f"-Dkafka.logs.dir={s.log_dir(server)}", "-cp", str(s.lib_dir(KAFKA) / "*"),
        "kafka.tools.StorageTool", "format", "--ignore-formatted",
        "-t", cluster_id, "-c", str(s.conf_dir(server) / "server.properties"),
    ]  # fmt: skip
    done = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise StackError(
            f"{server}: formatting {log_dirs} failed (exit {done.returncode}):\n"
            + "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        )


def _cassandra_command(s: LocalStack, java_home: Path) -> list[str]:
    storage_port = s.settings.cassandra_storage_port
    return cassandra_argv(
        s, CASSANDRA, java_home, cluster_name="fleetgraph", address=HOST,
        seeds=f"{HOST}:{storage_port}", storage_port=storage_port,
        native_port=s.settings.cassandra_port, jmx_port=s.settings.cassandra_jmx_port,
        heap=s.settings.cassandra_heap,
    )  # fmt: skip


def cassandra_argv(
    s: LocalStack, server: str, java_home: Path, *, cluster_name: str, address: str,
    seeds: str, storage_port: int, native_port: int, jmx_port: int, heap: str,
    cluster_yaml: str = "",
) -> list[str]:  # fmt: skip
    """The command line of a Cassandra node (``server``: ``cassandra`` or a cluster's
    ``cassandra-<n>``) listening on ``address``; ``cluster_yaml`` is appended to its
    cassandra.yaml (a cluster node's own keys)."""
    conf, data, log_dir = s.conf_dir(server), s.data_dir(server), s.log_dir(server)
    yaml_file = _render(
        "cassandra.yaml", conf / "cassandra.yaml", data_dir=data, cluster_name=cluster_name,
        address=address, seeds=seeds, storage_port=storage_port, native_port=native_port,
        cluster_keys=cluster_yaml, hints="true" if cluster_yaml else "false",
    )  # fmt: skip
    logback = _render("cassandra-logback.xml", conf / "logback.xml", log_dir=log_dir)
    jamm = sorted(s.lib_dir(CASSANDRA).glob("jamm-*.jar"))
    if not jamm:
        raise StackError(f"cassandra: no jamm jar in {s.lib_dir(CASSANDRA)}; run `stack fetch`")
    triggers = conf / "triggers"
    triggers.mkdir(parents=True, exist_ok=True)
    big_heap = _heap_bytes(heap) > _heap_bytes("256m")
    options = _jvm_options(
        "cassandra-jvm.options", heap=heap, jamm_jar=jamm[-1],
        initial_heap="256m" if big_heap else heap, triggers_dir=triggers,
        config_file=yaml_file, data_dir=data, log_dir=log_dir, logback_file=logback,
        jmx_port=jmx_port,
    )  # fmt: skip
    classpath = str(s.lib_dir(CASSANDRA) / "*")
    return [_java(java_home), *options, *_marker_flags(s, server), "-cp", classpath,
            "org.apache.cassandra.service.CassandraDaemon"]  # fmt: skip


# --------------------------------------------------------------------------
# Processes


def _read_pid(s: LocalStack, server: str) -> int | None:
    try:
        return int(s.pid_file(server).read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(s: LocalStack, server: str, pid: int) -> bool:
    """True if pid is a live (not zombie) JVM started from this stack home for server."""
    proc = Path("/proc") / str(pid)
    if Path("/proc/self").exists():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            return False
        markers = {flag.encode() for flag in _marker_flags(s, server)}
        return state not in ("Z", "X") and markers <= set(cmdline)
    try:  # no /proc (macOS): trust the pid file
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(server: str, settings: StackSettings | None = None) -> int | None:
    """The pid of server's live JVM started from this stack home, or None."""
    s = LocalStack.of(settings)
    pid = _read_pid(s, server)
    return pid if pid is not None and _pid_alive(s, server, pid) else None


def _spawn(s: LocalStack, server: str, command: list[str], java_home: Path) -> int:
    """Start command detached (own session, reparented to init); return its pid."""
    out = s.out_file(server)
    out.parent.mkdir(parents=True, exist_ok=True)
    s.pid_file(server).parent.mkdir(parents=True, exist_ok=True)
    with out.open("ab") as handle:
        handle.write(f"{_START_MARK} {time.strftime('%Y-%m-%d %H:%M:%S')} {server}\n".encode())
    # The shell starts the JVM in the background and exits at once, so the JVM
    # outlives this Python process and nobody has to wait() for it.
    script = '"$@" </dev/null >>"$FLEETGRAPH_OUT" 2>&1 & echo $!'
    env = dict(os.environ, JAVA_HOME=str(java_home), FLEETGRAPH_OUT=str(out))
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", script, "sh", *command], env=env, cwd=s.log_dir(server),
            start_new_session=True, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, check=True, timeout=30,
        )  # fmt: skip
        pid = int(done.stdout.strip())
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise StackError(f"{server}: could not start the JVM: {exc}") from exc
    s.pid_file(server).write_text(f"{pid}\n")
    return pid


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(s: LocalStack, pids: Mapping[str, int], timeout: float) -> dict[str, int]:
    """Wait up to timeout for the processes to exit; return those still alive."""
    deadline = time.monotonic() + timeout
    alive = dict(pids)
    while alive:
        alive = {n: p for n, p in alive.items() if _pid_alive(s, n, p)}
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return alive


def _stop_pids(s: LocalStack, pids: Mapping[str, int], timeout: float, report: Report) -> None:
    """SIGTERM the servers (Cassandra drains, Kafka closes its logs), SIGKILL stragglers."""
    for server, pid in pids.items():
        if not _pid_alive(s, server, pid):
            continue
        report(f"{server}: stopping pid {pid}")
        _signal(pid, signal.SIGTERM)
    alive = _wait_gone(s, pids, timeout)
    for server, pid in alive.items():
        report(f"{server}: pid {pid} still running {timeout:g} s after SIGTERM; killing it")
        _signal(pid, signal.SIGKILL)
    alive = _wait_gone(s, alive, 10.0)
    for server in pids:
        if server not in alive:
            s.pid_file(server).unlink(missing_ok=True)
    if alive:
        raise StackError(f"could not stop {', '.join(f'{n} (pid {p})' for n, p in alive.items())}")


@contextlib.contextmanager
def _locked(s: LocalStack) -> Iterator[None]:
    """Serialise up/down of one stack home across processes."""
    s.home.mkdir(parents=True, exist_ok=True)
    with (s.home / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------
# Probes


def port_open(port: int, timeout: float = 1.0, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Silence client libraries' connection-error logs while probing."""
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _run_async(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """asyncio.run, also from code that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


async def _kafka_probe(port: int, timeout: float, make_ready_topic: bool, host: str = HOST,
                       brokers: int = 1) -> str:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped, unused-ignore]

    admin = AIOKafkaAdminClient(
        bootstrap_servers=f"{host}:{port}", request_timeout_ms=int(timeout * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        if len(cluster.get("brokers") or ()) < brokers:
            return ""
        if make_ready_topic:
            if KAFKA_READY_TOPIC not in await asyncio.wait_for(admin.list_topics(), timeout):
                await asyncio.wait_for(
                    admin.create_topics([NewTopic(KAFKA_READY_TOPIC, 1, min(brokers, 3))]),
                    timeout,
                )
            if KAFKA_READY_TOPIC not in await asyncio.wait_for(admin.list_topics(), timeout):
                return ""
            # The first group lookup makes a fresh broker create __consumer_offsets;
            # ready means a consumer group can find its coordinator now.
            await asyncio.wait_for(admin.find_coordinator(KAFKA_READY_TOPIC), timeout)
        return f"cluster id {cluster.get('cluster_id')}"
    finally:
        await admin.close()


def kafka_answers(port: int, timeout: float = 5.0, make_ready_topic: bool = False,
                  host: str = HOST, brokers: int = 1) -> str:
    """A short description if a Kafka broker answers metadata on host:port (and the
    cluster has at least ``brokers`` brokers), else ''."""
    if not port_open(port, host=host):
        return ""
    with _quiet("aiokafka"):
        try:
            return _run_async(
                lambda: _kafka_probe(port, timeout, make_ready_topic, host, brokers))
        except Exception:  # any failure means "not answering yet"
            return ""


def cassandra_answers(port: int, timeout: float = 5.0, host: str = HOST, peers: int = 0) -> str:
    """Cassandra's release_version if it answers CQL on host:port (and knows at least
    ``peers`` other nodes), else ''."""
    if not port_open(port, host=host):
        return ""
    from cassandra.cluster import (  # type: ignore[import-untyped, unused-ignore]
        EXEC_PROFILE_DEFAULT,
        Cluster,
        ExecutionProfile,
    )
    from cassandra.policies import WhiteListRoundRobinPolicy  # type: ignore[import-untyped, unused-ignore]

    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([host]), request_timeout=timeout
    )
    with _quiet("cassandra"):
        cluster = Cluster(
            [host], port=port, protocol_version=5, connect_timeout=timeout,
            control_connection_timeout=timeout, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )  # fmt: skip
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local").one()
            if peers and len(list(session.execute("SELECT peer FROM system.peers_v2"))) < peers:
                return ""
            return str(row.release_version) if row else ""
        except Exception:  # any failure means "not answering yet"
            return ""
        finally:
            cluster.shutdown()


def _answers(s: LocalStack, server: str, ready_check: bool = False) -> str:
    if server == KAFKA:
        return kafka_answers(s.settings.kafka_port, make_ready_topic=ready_check)
    version = cassandra_answers(s.settings.cassandra_port)
    return f"release {version}" if version else ""


# --------------------------------------------------------------------------
# Public operations


def status(settings: StackSettings | None = None) -> list[ServerStatus]:
    s = LocalStack.of(settings)
    result = []
    for server in SERVERS:
        pid = running_pid(server, s.settings)
        detail = _answers(s, server)
        answering = bool(detail)
        if not answering:
            detail = "not answering" if pid or port_open(s.port(server)) else "stopped"
        result.append(
            ServerStatus(server, s.port(server), pid, answering, detail, s.main_log(server))
        )
    return result


def is_up(settings: StackSettings | None = None, only: Sequence[str] | None = None) -> bool:
    """True if every server answers on its port (whoever started it)."""
    s = LocalStack.of(settings)
    return all(_answers(s, server) for server in _servers(only))


def ensure_up(
    timeout: float = DEFAULT_TIMEOUT,
    settings: StackSettings | None = None,
    only: Sequence[str] | None = None,
    report: Report = _no_report,
) -> StackEndpoints:
    """Fetch, configure and start whatever is not running, then wait until it answers.

    A server that already answers on its port is used as it is, even if
    something else started it (docker compose, another stack home). Raises
    StackError, with the tail of the server's log, if a server dies or does
    not answer within ``timeout`` seconds; servers this call started are then
    stopped again.
    """
    s = LocalStack.of(settings)
    with _locked(s):
        started: dict[str, int] = {}
        try:
            _start_and_wait(s, _servers(only), timeout, report, started)
        except BaseException:
            if started:
                _stop_pids(s, started, STOP_TIMEOUT, report)
            raise
    return endpoints(s.settings)


def _start_and_wait(
    s: LocalStack,
    servers: tuple[str, ...],
    timeout: float,
    report: Report,
    started: dict[str, int],
) -> None:
    waiting: dict[str, tuple[int | None, float]] = {}  # server -> (pid, deadline)
    for server in servers:
        pid = running_pid(server, s.settings)
        if detail := _answers(s, server):
            owner = f"pid {pid}" if pid else f"not started from {s.home}"
            report(f"{server}: already up on {HOST}:{s.port(server)} ({owner}, {detail})")
            continue
        if pid is None:
            if port_open(s.port(server)):
                raise StackError(
                    f"{server}: port {s.port(server)} is taken by a process that is not "
                    f"{server} from {s.home}; stop it or set another port"
                )
            java_home = find_java_home(s.settings)
            _fetch_one(s, server, report)
            if server == KAFKA:
                command = _kafka_command(s, java_home)
                _format_kafka_storage(s, java_home, report)
            else:
                command = _cassandra_command(s, java_home)
            for path in (s.data_dir(server), s.log_dir(server)):
                path.mkdir(parents=True, exist_ok=True)
            pid = started[server] = _spawn(s, server, command, java_home)
            report(f"{server}: started pid {pid}, log {s.main_log(server)}")
        else:
            report(f"{server}: pid {pid} is running; waiting for it to answer")
        waiting[server] = (pid, time.monotonic() + timeout)
    _wait(s, waiting, timeout, report)


def _wait(
    s: LocalStack, waiting: dict[str, tuple[int | None, float]], timeout: float, report: Report
) -> None:
    began = time.monotonic()
    while waiting:
        for server, (pid, deadline) in list(waiting.items()):
            if pid is not None and not _pid_alive(s, server, pid):
                raise StackError(
                    f"{server}: the JVM (pid {pid}) died while starting.\n"
                    f"--- {s.out_file(server)}\n{_tail(s.out_file(server), since=_START_MARK)}\n"
                    f"--- {s.main_log(server)}\n{_tail(s.main_log(server))}"
                )
            detail = _answers(s, server, ready_check=True)
            if detail:
                report(f"{server}: answering on {HOST}:{s.port(server)} after "
                       f"{time.monotonic() - began:.1f} s ({detail})")  # fmt: skip
                del waiting[server]
            elif time.monotonic() > deadline:
                raise StackError(
                    f"{server}: no answer on {HOST}:{s.port(server)} after {timeout:.0f} s.\n"
                    f"--- {s.main_log(server)}\n{_tail(s.main_log(server))}"
                )
        if waiting:
            time.sleep(1.0)


def down(
    settings: StackSettings | None = None,
    wipe: bool = False,
    only: Sequence[str] | None = None,
    timeout: float = STOP_TIMEOUT,
    report: Report = _no_report,
) -> None:
    """Stop the servers started from this stack home (SIGTERM, then SIGKILL).

    With wipe, also delete their data, logs and rendered configuration; the
    jar cache stays.
    """
    s = LocalStack.of(settings)
    if not s.home.is_dir():
        report(f"nothing to stop: {s.home} does not exist")
        return
    servers = _servers(only)
    with _locked(s):
        pids: dict[str, int] = {}
        for server in servers:
            pid = running_pid(server, s.settings)
            if pid is None:
                s.pid_file(server).unlink(missing_ok=True)
                note = " (but something answers on its port)" if port_open(s.port(server)) else ""
                report(f"{server}: not running from {s.home}{note}")
            else:
                pids[server] = pid
        _stop_pids(s, pids, timeout, report)
        if wipe:
            for server in servers:
                for path in (s.data_dir(server), s.log_dir(server), s.conf_dir(server)):
                    shutil.rmtree(path, ignore_errors=True)
                report(f"{server}: wiped data and logs (jar cache kept in {s.lib_dir(server)})")
