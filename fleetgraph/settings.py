"""The one settings tree: a typed section per part of fleetgraph.

``Settings()`` fills the tree from ``FLEETGRAPH_*`` environment variables, with
the names fleetgraph has always used; :data:`ENVIRONMENT` below is the one table
of those names and where each lands in the tree. A ``.env`` file in the working
directory (or the file ``FLEETGRAPH_ENV_FILE`` names) gives values too, the real
environment winning over it. Keyword arguments override
them (``Settings(kafka=KafkaSettings(bootstrap="127.0.0.1:9192"))``); a section
built on its own reads no environment.

    Settings
      data_dir                the event log, dead letters and the embedded graph file
      env_file                the .env file read (None: ./.env when there is one)
      log_format              text or json log lines (fleetgraph.core.logs)
      store: StoreConfig      which backend, and each backend's own section
                              (fleetgraph.storage.config: embedded, cassandra)
      kafka: KafkaSettings    bootstrap servers, topic prefix, consumer group
      ingest: IngestSettings  dedup window, write batches, waiting out a store outage
      server: ServerSettings  where the GraphQL server listens, tokens, query deadline
      stack: StackSettings    the local Kafka and Cassandra servers (infra/)
      client: ClientSettings  what a client of the API (clients/scheduler) sends

The tree sits above storage and below ingest, serving and infra in the layers
(docs/architecture.md): a backend owns its section and takes only that; the
parts above take the sections they use.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from fleetgraph.core.errors import ConfigError
from fleetgraph.core.logs import LogFormat
from fleetgraph.storage.config import StoreConfig

PACKAGE_DIR = Path(__file__).resolve().parent  # fleetgraph/ (site-packages/fleetgraph/ in a wheel)


def source_checkout() -> Path | None:
    """The repository when fleetgraph runs from its source tree (a checkout, an
    editable install), None when installed from a wheel."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "infra").is_dir() else None


def user_data_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where an installed fleetgraph keeps what is not the user's data directory (the
    local stack): ``$XDG_DATA_HOME/fleetgraph``, else ``~/.local/share/fleetgraph``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_DATA_HOME", "").strip()
    return (Path(base).expanduser() if base else Path.home() / ".local" / "share") / "fleetgraph"


API_ROLES = ("ops", "scheduler", "auditor")  # serving.access.ROLES (a test keeps them equal)
HEAP = re.compile(r"[0-9]+[kKmMgG]?")  # bytes, or with a unit (as the JVM takes -Xmx)
SECTION = ConfigDict(extra="forbid", validate_assignment=True)


class KafkaSettings(BaseModel):
    """How ingest reaches Kafka and names its topics and consumer group."""

    model_config = SECTION

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "fleetgraph."
    consumer_group: str = "fleetgraph-ingest"
    # copies of each topic fleetgraph creates (its own and Faust's changelogs), and how
    # many must have a write before it is acknowledged (producers send with acks=all;
    # None: the brokers' min.insync.replicas): 1 on one broker; 3 and 2 on a cluster,
    # where one broker may be down (ingest/kafka/topics.py refuses more than the copies)
    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)


class IngestSettings(BaseModel):
    """The processors' knobs: dedup window, write batches, waiting out a store outage."""

    model_config = SECTION

    dedup_window_s: float = 5.0
    # leading: a key's first update in its window is written at once, the ones after it
    # merged and written at the window's end; trailing: all at the window's end
    # (ingest/stages/dedup.py)
    dedup_mode: Literal["leading", "trailing"] = "leading"
    # a worker writes a key's later updates within its window at most this long after
    # the first of them (None: at the window's end); shorter is fresher, and costs
    # writes where keys change often (ingest/kafka/dedup_table.py says how many)
    dedup_max_hold_s: float | None = Field(default=None, gt=0)
    batch_size: int = 5000
    # a worker's sink writes a fetched batch this many upserts at a time (each ~2.8
    # Cassandra writes alive together); fewer bound a draining worker's memory
    sink_write_upserts: int = Field(default=1000, ge=1)
    # a worker gives the C heap's free pages back this often (glibc's malloc_trim; 0:
    # never): what a burst of a drained backlog freed is otherwise kept
    malloc_trim_s: float = Field(default=1.0, ge=0)
    # the sink waits for a store that is down (capped exponential backoff), and stops
    # the worker when an outage outlasts the deadline (ingest/kafka/store_writer.py)
    store_retry_max_backoff_s: float = 10.0
    store_outage_deadline_s: float = 900.0
    # a worker serves Prometheus /metrics on this port (0: none); docs/operations.md
    metrics_port: int = Field(default=0, ge=0, le=65535)


class ServerSettings(BaseModel):
    """The GraphQL server: where it listens, who may ask, how long a query may take."""

    model_config = SECTION

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)  # uvicorn processes
    mode: Literal["development", "production"] = "development"
    api_tokens: dict[str, str] = {}  # token -> role (ops, scheduler, auditor)
    query_timeout_s: float = 10.0
    access_log: bool = True  # uvicorn's line per request (about 4.5 % of a request's CPU)

    @field_validator("api_tokens")
    @classmethod
    def _roles(cls, tokens: dict[str, str]) -> dict[str, str]:
        unknown = sorted({role for role in tokens.values() if role not in API_ROLES})
        if unknown:
            raise ValueError(f"unknown role {', '.join(map(repr, unknown))}: a JSON object of "
                             f"token to role, the roles {', '.join(API_ROLES)}")
        if "" in tokens:
            raise ValueError("an empty token")
        return tokens


class StackSettings(BaseModel):
    """The local Kafka and Cassandra servers ``fleetgraph stack`` runs (infra/).

    Cassandra's native port is the store's (``FLEETGRAPH_CASSANDRA_PORT``, read
    once): :class:`Settings` copies it here.
    """

    model_config = SECTION

    home: Path | None = None  # None: <repo>/.fleetgraph/stack, installed: user_data_home()/stack
    kafka_port: int = 9092
    kafka_controller_port: int | None = None  # None: the Kafka port + 1
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_jmx_port: int = 7199
    kafka_heap: str = "1g"
    cassandra_heap: str = "1g"
    java_home: Path | None = None  # None: found on the machine (a JDK 17 or 11)
    mvn: Path | None = None  # Maven, which fetches the servers' jars; None: `mvn` on PATH
    no_docker: bool = False  # tests: start the stack from the jars even if Docker answers

    @field_validator("kafka_heap", "cassandra_heap")
    @classmethod
    def _heap(cls, value: str) -> str:
        if not HEAP.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a JVM heap size such as 1g or 768m")
        return value.strip()

    @property
    def controller_port(self) -> int:
        """Kafka's KRaft controller port: set, or the broker port + 1."""
        return self.kafka_controller_port or self.kafka_port + 1


class ClientSettings(BaseModel):
    """A client of the GraphQL API (clients/scheduler, ``fleetgraph scheduler``): its own
    token, one of the server's ``FLEETGRAPH_API_TOKENS`` keys (with the scheduler role)."""

    model_config = SECTION

    token: str | None = None


# Every environment variable fleetgraph reads, and where it lands in the tree.
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "FLEETGRAPH_DATA_DIR": ("data_dir",),
    "FLEETGRAPH_ENV_FILE": ("env_file",),
    "FLEETGRAPH_LOG_FORMAT": ("log_format",),
    "FLEETGRAPH_STORE": ("store", "kind"),
    "FLEETGRAPH_SQLITE_FILE": ("store", "embedded", "sqlite_file"),
    "FLEETGRAPH_SQLITE_CACHE_MIB": ("store", "embedded", "cache_mib"),
    "FLEETGRAPH_CASSANDRA_HOSTS": ("store", "cassandra", "hosts"),
    "FLEETGRAPH_CASSANDRA_PORT": ("store", "cassandra", "port"),
    "FLEETGRAPH_CASSANDRA_LOCAL_DC": ("store", "cassandra", "local_dc"),
    "FLEETGRAPH_KEYSPACE_PREFIX": ("store", "cassandra", "keyspace_prefix"),
    "FLEETGRAPH_REPLICATION": ("store", "cassandra", "replication"),  # N or a CQL map
    "FLEETGRAPH_CASSANDRA_READ_CONSISTENCY": ("store", "cassandra", "read_consistency"),
    "FLEETGRAPH_CASSANDRA_WRITE_CONSISTENCY": ("store", "cassandra", "write_consistency"),
    "FLEETGRAPH_KAFKA_BOOTSTRAP": ("kafka", "bootstrap"),
    "FLEETGRAPH_TOPIC_PREFIX": ("kafka", "topic_prefix"),
    "FLEETGRAPH_CONSUMER_GROUP": ("kafka", "consumer_group"),
    "FLEETGRAPH_TOPIC_REPLICATION_FACTOR": ("kafka", "replication_factor"),
    "FLEETGRAPH_TOPIC_MIN_INSYNC_REPLICAS": ("kafka", "min_insync_replicas"),
    "FLEETGRAPH_DEDUP_WINDOW_S": ("ingest", "dedup_window_s"),
    "FLEETGRAPH_DEDUP_MODE": ("ingest", "dedup_mode"),
    "FLEETGRAPH_DEDUP_MAX_HOLD_S": ("ingest", "dedup_max_hold_s"),
    "FLEETGRAPH_BATCH_SIZE": ("ingest", "batch_size"),
    "FLEETGRAPH_SINK_WRITE_UPSERTS": ("ingest", "sink_write_upserts"),
    "FLEETGRAPH_MALLOC_TRIM_S": ("ingest", "malloc_trim_s"),
    "FLEETGRAPH_STORE_RETRY_MAX_BACKOFF_S": ("ingest", "store_retry_max_backoff_s"),
    "FLEETGRAPH_STORE_OUTAGE_DEADLINE_S": ("ingest", "store_outage_deadline_s"),
    "FLEETGRAPH_METRICS_PORT": ("ingest", "metrics_port"),
    "FLEETGRAPH_HOST": ("server", "host"),
    "FLEETGRAPH_PORT": ("server", "port"),
    "FLEETGRAPH_SERVE_WORKERS": ("server", "workers"),
    "FLEETGRAPH_MODE": ("server", "mode"),
    "FLEETGRAPH_API_TOKENS": ("server", "api_tokens"),  # JSON: {"token": "role"}
    "FLEETGRAPH_QUERY_TIMEOUT_S": ("server", "query_timeout_s"),
    "FLEETGRAPH_ACCESS_LOG": ("server", "access_log"),
    "FLEETGRAPH_STACK_HOME": ("stack", "home"),
    "FLEETGRAPH_KAFKA_PORT": ("stack", "kafka_port"),
    "FLEETGRAPH_KAFKA_CONTROLLER_PORT": ("stack", "kafka_controller_port"),
    "FLEETGRAPH_CASSANDRA_STORAGE_PORT": ("stack", "cassandra_storage_port"),
    "FLEETGRAPH_CASSANDRA_JMX_PORT": ("stack", "cassandra_jmx_port"),
    "FLEETGRAPH_KAFKA_HEAP": ("stack", "kafka_heap"),
    "FLEETGRAPH_CASSANDRA_HEAP": ("stack", "cassandra_heap"),
    "FLEETGRAPH_JAVA_HOME": ("stack", "java_home"),
    "FLEETGRAPH_MVN": ("stack", "mvn"),
    "FLEETGRAPH_NO_DOCKER": ("stack", "no_docker"),
    "FLEETGRAPH_CLIENT_TOKEN": ("client", "token"),  # the client's own token
    "FLEETGRAPH_API_TOKEN": ("client", "token"),  # its old name: deprecated, still read
}
JSON_VALUED = frozenset({"FLEETGRAPH_API_TOKENS"})
# an error names them, never shows the value
SECRET = frozenset({"FLEETGRAPH_API_TOKENS", "FLEETGRAPH_CLIENT_TOKEN", "FLEETGRAPH_API_TOKEN"})
# old name -> new name: still read (the new one wins), with a warning
DEPRECATED = {"FLEETGRAPH_API_TOKEN": "FLEETGRAPH_CLIENT_TOKEN"}
# FLEETGRAPH_* variables read outside the tree, by what is not fleetgraph's server side
READ_ELSEWHERE = {
    "FLEETGRAPH_REQUIRE_STACK": "tests: fail rather than skip without Kafka and Cassandra",
    "FLEETGRAPH_FUZZ_SEED": "tests: the GraphQL fuzz drill's seed",
    "FLEETGRAPH_KEEP_DRILL_TOPICS": "tests: keep the drills' topics for a post-mortem",
    "FLEETGRAPH_DRILL_CLUSTER_HOME": "tests: the cluster drills run on (and keep) this cluster",
    "FLEETGRAPH_CRASH_ROUNDS": "tests: kill -9 rounds of the crash drill (default 2)",
    "FLEETGRAPH_OUT": "infra: where a started server's output goes (set by the stack itself)",
}


DOTENV = Path(".env")


def dotenv_path(environ: Mapping[str, str]) -> Path | None:
    """The .env file to read: ``FLEETGRAPH_ENV_FILE`` (which must exist), else ``.env``
    in the working directory when there is one."""
    named = next((v.strip() for k, v in environ.items()
                  if k.upper() == "FLEETGRAPH_ENV_FILE" and v.strip()), None)
    if named is None:
        return DOTENV if DOTENV.is_file() else None
    path = Path(named).expanduser()
    if not path.exists() or path.is_dir():
        raise ConfigError(f"FLEETGRAPH_ENV_FILE={named!r}: no such file (a .env file of "
                          "NAME=value lines)")
    return path


def dotenv_variables(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``FLEETGRAPH_*`` values of the .env file (see :func:`dotenv_path`)."""
    path = dotenv_path(os.environ if environ is None else environ)
    if path is None:
        return {}
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as a .env file ({exc})") from None
    return {k: v for k, v in values.items()
            if k.upper().startswith("FLEETGRAPH_") and v is not None}


def with_dotenv(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (the process environment when None) over the .env file's values."""
    real = dict(os.environ if environ is None else environ)
    return {**dotenv_variables(real), **real}


def deprecated_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A line for each deprecated ``FLEETGRAPH_*`` variable that is set (the process
    environment's and the .env file's when ``environ`` is None)."""
    source = with_dotenv() if environ is None else environ
    set_names = {k.upper() for k, v in source.items() if v.strip()}
    return [f"{old} is deprecated: use {new}"
            + (f" ({new} is set and wins)" if new in set_names else "")
            for old, new in sorted(DEPRECATED.items()) if old in set_names]


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A line for each ``FLEETGRAPH_*`` variable that no part of fleetgraph reads (a
    misspelling would otherwise be ignored in silence), with the closest known name;
    the process environment's and the .env file's (when ``environ`` is None)."""
    known = [*ENVIRONMENT, *READ_ELSEWHERE]
    lines = []
    source = dict(environ) if environ is not None else {}
    where: dict[str, str] = {}
    if environ is None:
        path = dotenv_path(os.environ)
        from_file = dotenv_variables()
        where = {k: f" (in {path})" for k in from_file if k not in os.environ}
        source = {**from_file, **os.environ}
    for name in sorted(source):
        upper = name.upper()
        if not upper.startswith("FLEETGRAPH_") or upper in known:
            continue
        prefix = len("FLEETGRAPH_")  # compared without it: every name shares it
        close = difflib.get_close_matches(upper[prefix:], [k[prefix:] for k in known],
                                          n=1, cutoff=0.6)
        hint = f"; did you mean FLEETGRAPH_{close[0]}?" if close else ""
        lines.append(f"{name}{where.get(name, '')} is not a fleetgraph setting, "
                     f"and is ignored{hint}")
    return lines


class FleetgraphEnvironment(PydanticBaseSettingsSource):
    """The tree's values from the environment, by :data:`ENVIRONMENT` (names are
    case-insensitive; empty values count as unset), over the .env file's."""

    def __init__(self, settings_cls: type[BaseSettings],
                 environ: dict[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        self.environ = {k.upper(): v for k, v in with_dotenv(environ).items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the whole tree is built in __call__

    def __call__(self) -> dict[str, Any]:
        tree: dict[str, Any] = {}
        for name, path in ENVIRONMENT.items():
            raw = self.environ.get(name, "").strip()
            if not raw or self.environ.get(DEPRECATED.get(name, ""), "").strip():
                continue
            node = tree
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = _json(name, raw) if name in JSON_VALUED else raw
        return tree


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "api_tokens":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _json(name: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        shown = "" if name in SECRET else f": {raw[:80]!r}"
        raise ConfigError(f"{name} is not JSON ({e.msg} at character {e.pos}){shown}; "
                          'expected a JSON object, e.g. {"s3cret": "ops"}') from e


EXPECTED = {  # pydantic's error types, said as what the variable expects
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "int_type": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false (1/0, yes/no, on/off)",
    "dict_type": 'expected a JSON object, e.g. {"s3cret": "ops"}',
    "path_type": "expected a file or directory path",
}


def _expected(problem: Any) -> str:
    kind = str(problem["type"])
    if kind in EXPECTED:
        return EXPECTED[kind]
    message = str(problem["msg"]).removeprefix("Value error, ")
    if message.startswith("Input should be "):
        return "expected " + message.removeprefix("Input should be ")
    return message


def _explained(error: ValidationError, environ: Mapping[str, str]) -> str:
    """Each problem of ``error`` on one line, by the variable it came from."""
    names = {path: name for name, path in ENVIRONMENT.items()}
    lines = []
    for problem in error.errors():
        path = tuple(str(key) for key in problem["loc"])
        if path[:2] == ("server", "api_tokens") and len(path) > 2:
            path = path[:2]  # a role, or a token, inside the JSON object
        message = _expected(problem)
        name = names.get(path)
        if name is None or name not in environ:
            lines.append(f"{'.'.join(path)}: {message}")
        elif name in SECRET:
            lines.append(f"{name} (value not shown): {message}")
        elif message.startswith(repr(environ[name].strip())):
            lines.append(f"{name}={message}")
        else:
            lines.append(f"{name}={environ[name].strip()!r}: {message}")
    return "; ".join(lines)


class Settings(BaseSettings):
    """Where fleetgraph keeps its data and how it reaches its servers."""

    model_config = SettingsConfigDict(extra="forbid")

    data_dir: Path = Path(".fleetgraph")
    env_file: Path | None = None  # FLEETGRAPH_ENV_FILE; None: ./.env when there is one
    log_format: LogFormat = "text"  # or "json": one object per line (fleetgraph.core.logs)
    store: StoreConfig = Field(default_factory=StoreConfig)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    client: ClientSettings = Field(default_factory=ClientSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, FleetgraphEnvironment(settings_cls)

    @model_validator(mode="after")
    def _one_value_each(self) -> Settings:
        """The embedded store's directory is the data directory, and Cassandra's
        native port is the one the stack serves."""
        self.store.embedded.data_dir = self.data_dir
        self.stack.cassandra_port = self.store.cassandra.port
        return self

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, **values: Any) -> Settings:
        """The tree from ``environ`` (the process environment when None), ``values``
        merged over it as in :meth:`updated`. A bad value is a ConfigError naming its
        variable: ``FLEETGRAPH_KAFKA_HEAP='2x' is not a JVM heap size such as 1g or 768m``."""
        source = FleetgraphEnvironment(cls, environ=dict(os.environ if environ is None
                                                         else environ))
        try:
            return cls.model_validate(_merge(source(), values))
        except ValidationError as exc:
            raise ConfigError(_explained(exc, source.environ)) from None

    def updated(self, **changes: Any) -> Settings:
        """A copy with ``changes`` merged in, section by section and validated:
        ``settings.updated(kafka={"topic_prefix": "t."}, ingest={"batch_size": 10})``.
        Reads no environment."""
        merged = _merge(self.model_dump(), changes)
        return type(self).model_validate(merged)

    @property
    def sqlite_path(self) -> Path:
        return self.store.embedded.sqlite_path

    @property
    def events_path(self) -> Path:
        return self.data_dir / "events.avro"

    @property
    def dead_letter_path(self) -> Path:
        return self.data_dir / "dead-letters.jsonl"
