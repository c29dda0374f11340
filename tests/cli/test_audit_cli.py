"""``fleetgraph audit export | verify`` on a simulated fleet ingested from an event log,
on each backend: the file round-trips, a changed edge and an edited file exit 1 and
say what no longer matches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fleetgraph.cli.main import cli
from fleetgraph.graph_model.records import EdgeUpsert, Provenance
from fleetgraph.ingest.sources.eventlog import read_event_log, write_event_log
from fleetgraph.schemas import load_event_codec
from fleetgraph.serving.queries.audit_bundle import NotABundle, digest_of
from fleetgraph.serving.times import now_us, to_datetime
from fleetgraph.simulator import SimulationConfig, simulate_messages
from fleetgraph.storage.base import Direction, GraphStore
from tests.conftest import CassandraGraphs
from tests.e2e.fleet_run import ingest_into, open_store

H = 3_600_000_000
END_US = now_us() // 60_000_000 * 60_000_000
CONFIG = SimulationConfig(seed=3, sites=3, hours=4.0, end_time_us=END_US, malformed_rate=0.0)


@dataclass
class Ingested:
    store: GraphStore
    data_dir: Path
    env: dict[str, str]

    def first(self, node_type: str, read: bool = False) -> str:
        """The first node of a type (with ``read``: the first some job read)."""
        ids = [r.id for r in self.store.scan_nodes(node_type, None, 100).records]
        readers = self.store.neighbours("read", ids, Direction.IN)
        return next(i for i in sorted(ids) if readers[i] or not read)

    def run(self, *args: str) -> Result:
        return CliRunner(env=self.env).invoke(
            cli, ["--data-dir", str(self.data_dir), "audit", *args])


@pytest.fixture(scope="module",
                params=["embedded", pytest.param("cassandra", marks=pytest.mark.integration)])
def ingested(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             cassandra_graphs: CassandraGraphs) -> Iterator[Ingested]:
    data_dir = tmp_path_factory.mktemp("audit-cli")
    log = data_dir / "events.avro"  # the default event archive of `audit verify`
    codec = load_event_codec()
    write_event_log(log, ((str(t), p) for t, p, _ in simulate_messages(CONFIG, codec)))
    if request.param == "embedded":
        store: GraphStore = open_store(data_dir / "graph.sqlite", END_US)
        env = {"FLEETGRAPH_STORE": "embedded"}
    else:
        store = cassandra_graphs.store()
        points, port = cassandra_graphs.where()
        env = {"FLEETGRAPH_STORE": "cassandra", "FLEETGRAPH_CASSANDRA_HOSTS": ",".join(points),
               "FLEETGRAPH_CASSANDRA_PORT": str(port),
               "FLEETGRAPH_KEYSPACE_PREFIX": store.config.keyspace_prefix}  # type: ignore[attr-defined]
    ingest_into(store, read_event_log(log), END_US)
    yield Ingested(store, data_dir, env)
    if request.param == "embedded":
        store.close()
    else:
        cassandra_graphs.release(store)


def _iso(us: int) -> str:
    value = to_datetime(us)
    assert value is not None
    return value.isoformat()


def _export(ingested: Ingested, subject: str, name: str) -> Path:
    out = ingested.data_dir / name
    result = ingested.run("export", subject, "--from", _iso(END_US - 4 * H),
                          "--to", _iso(END_US), "--allowed", "us-ca", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: ")
    return out


def test_export_then_verify_exits_0(ingested: Ingested) -> None:
    path = _export(ingested, ingested.first("dataset"), "round-trip.json")
    bundle = json.loads(path.read_bytes())
    assert bundle["digest"] == digest_of(bundle)
    assert bundle["question"]["from_us"] == END_US - 4 * H
    assert bundle["question"]["allowed"] == ["us-ca"]
    assert bundle["answer"]["residency"]["violations"] is not None
    result = ingested.run("verify", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    records = len(bundle["records"]["edges"]) + len(bundle["records"]["nodes"])
    assert lines == ["digest ok", f"{len(bundle['records']['edges'])} edges, "
                     f"{len(bundle['records']['nodes'])} nodes, {records} source events "
                     "checked (0 not in the archive): 0 mismatches"]


def test_a_changed_edge_exits_1_and_is_named(ingested: Ingested) -> None:
    path = _export(ingested, ingested.first("dataset", read=True), "changed.json")
    bundle = json.loads(path.read_bytes())
    read = next(e for e in bundle["records"]["edges"] if e["type"] == "read")
    later = END_US + H
    ingested.store.upsert_edges([EdgeUpsert(
        "read", read["from"], read["to"], {"at": read["props"]["at"] + 7}, later,
        Provenance("audit-cli-1", "test/0/9", later, "audit-test"))])
    result = ingested.run("verify", str(path))
    assert result.exit_code == 1, result.output
    named = f"edge read {read['from']} -> {read['to']}: "
    assert named + f"property at was {read['props']['at']}, the store has " + (
        f"{read['props']['at'] + 7}") in result.output.splitlines()
    assert result.output.splitlines()[0] == "digest ok"


def test_an_edited_file_exits_1_and_says_so(ingested: Ingested) -> None:
    path = _export(ingested, ingested.first("model"), "edited.json")
    bundle = json.loads(path.read_bytes())
    bundle["question"]["asked_at_us"] += 1
    path.write_text(json.dumps(bundle, indent=2))
    result = ingested.run("verify", str(path))
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == "digest MISMATCH"
    assert "the file was changed after export" in result.output


def test_what_is_not_a_bundle_or_a_time_is_refused(ingested: Ingested) -> None:
    other = ingested.data_dir / "other.json"
    other.write_text('{"format": "something else"}')
    result = ingested.run("verify", str(other))
    assert isinstance(result.exception, NotABundle)
    assert "not a fleetgraph.audit-bundle of version 1" in str(result.exception)
    result = ingested.run("export", "dataset:ds-0001", "--from", "yesterday")
    assert result.exit_code == 2 and "'yesterday' is not an ISO 8601 time" in result.output
