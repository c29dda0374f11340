"""The Cassandra bulk writer (SSTableLoaderMain.java beside this file), built and run
with the local stack's JDK and cassandra-all jars.

:func:`bulk_tools` compiles the writer once into ``<stack home>/bulk/classes-<hash>``
(the hash of its source and of the jars' pom: a changed source or Cassandra version
builds anew) and returns how to start it (``fleetgraph.storage.bulk.BulkTools``):
the JVM with the module flags Cassandra's own JVM runs with
(``infra/conf/cassandra-jvm.options``), quiet logging (``logback-bulk.xml``), and the
node's JMX port for the import.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from fleetgraph.infra.stack import (
    CASSANDRA,
    CONF_TEMPLATES,
    HOST,
    MAVEN_PROJECTS,
    LocalStack,
    StackError,
    find_java_home,
    is_fetched,
)
from fleetgraph.settings import StackSettings
from fleetgraph.storage.bulk import BulkTools

BULK_DIR = Path(__file__).resolve().parent
SOURCE = BULK_DIR / "SSTableLoaderMain.java"
MAIN_CLASS = "SSTableLoaderMain"
LOGBACK = BULK_DIR / "logback-bulk.xml"
HEAP = "2g"  # the writers' buffers (64 MiB of rows per table) and the JSON in flight
# The table writers' buffers live until flushed: copied between survivor spaces they
# cost most of the writer's CPU, and on a busy machine G1 shrank the young generation
# to meet its pause goal (5 % of the heap: a young collection every few seconds, 83 %
# of the writer's CPU in GC at 1000 sites). A fixed young generation of a quarter of
# the heap, survivors promoted at once (as Cassandra's own JVM options do).
GC_FLAGS = ("-XX:+UseG1GC", "-XX:MaxTenuringThreshold=1")
_JVM_FLAGS = ("--add-", "-Dio.netty.", "-Djdk.attach.")  # taken from Cassandra's own options


def _digest() -> str:
    pom = (MAVEN_PROJECTS / CASSANDRA / "pom.xml").read_bytes()
    return hashlib.sha256(SOURCE.read_bytes() + b"\0" + pom).hexdigest()[:16]


def build(settings: StackSettings | None = None) -> Path:
    """The compiled writer's class folder (compiled now unless it already is)."""
    s = LocalStack.of(settings)
    if not is_fetched(CASSANDRA, s.settings):
        raise StackError("the bulk writer needs Cassandra's jars: run `fleetgraph stack fetch`")
    classes = s.home / "bulk" / f"classes-{_digest()}"
    if (classes / f"{MAIN_CLASS}.class").is_file():
        return classes
    javac = find_java_home(s.settings) / "bin" / "javac"
    if not javac.is_file():
        raise StackError(f"no javac beside {javac.parent / 'java'}: the bulk writer needs a "
                         "JDK (apt-get install openjdk-17-jdk-headless)")
    partial = classes.with_name(classes.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    done = subprocess.run(
        [str(javac), "-nowarn", "-encoding", "UTF-8", "-cp", str(s.lib_dir(CASSANDRA) / "*"),
         "-d", str(partial), str(SOURCE)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"compiling {SOURCE.name} failed (exit {done.returncode}):\n"
                         + "\n".join((done.stdout + done.stderr).splitlines()[-30:]))
    shutil.rmtree(classes, ignore_errors=True)
    partial.rename(classes)
    return classes


def jvm_flags() -> list[str]:
    """The module-access flags of Cassandra's JVM options (the writer runs Cassandra's
    code in client mode, which needs the same)."""
    lines = (CONF_TEMPLATES / "cassandra-jvm.options").read_text().splitlines()
    return [line.strip() for line in lines if line.strip().startswith(_JVM_FLAGS)]


def young_size(heap: str) -> str:
    """A quarter of ``heap`` (a JVM size: ``2g``, ``512m``), in MiB."""
    units = {"k": 1 / 1024, "m": 1, "g": 1024}
    mib = float(heap[:-1]) * units[heap[-1].lower()] if heap[-1].isalpha() else int(heap) / 2**20
    return f"{max(int(mib // 4), 16)}m"


def bulk_tools(settings: StackSettings | None = None, *, import_sstables: bool = True,
               heap: str = HEAP) -> BulkTools:
    """How to run the writer against the local stack's node: its JMX port for the
    import (``import_sstables``), else the SSTables are only written."""
    s = LocalStack.of(settings)
    classes = build(s.settings)
    java = find_java_home(s.settings) / "bin" / "java"
    command = (
        str(java), f"-Xmx{heap}", f"-Xmn{young_size(heap)}", *GC_FLAGS, *jvm_flags(),
        f"-Dlogback.configurationFile={LOGBACK}",
        "-cp", f"{classes}:{s.lib_dir(CASSANDRA) / '*'}", MAIN_CLASS,
    )
    jmx = f"{HOST}:{s.settings.cassandra_jmx_port}" if import_sstables else None
    return BulkTools(command, jmx)
