"""The end-to-end test on the real stack: the simulated fleet is published to
Kafka, a Faust worker runs the stages and sinks the per-type graph topics into
Cassandra, and GraphQL over Cassandra answers affectedJobs and modelHotness
exactly as networkx does over the same events."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.bench.reference import graph as oracle_graph
from fleetgraph.bench.reference import queries as oracle
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.producer import publish_messages
from fleetgraph.ingest.kafka.topics import TopicNames, delete_topics
from fleetgraph.serving.context import new_context
from fleetgraph.serving.schema import build_schema
from fleetgraph.settings import Settings
from tests.conftest import CassandraGraphs
from tests.e2e.fleet_run import CONFIG, simulated_messages
from tests.e2e.test_end_to_end import AFFECTED, HOTNESS, iso, us
from tests.integration.test_kafka_pipeline import _kafka_bootstrap

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
H = 3_600_000_000


# live data: the worker's store measures expiry (cached_at: 30 days) on the wall clock
END_US = (time.time_ns() // 1000) // 60_000_000 * 60_000_000


def ask(store: Any, query: str, **variables: Any) -> dict[str, Any]:
    result = asyncio.run(build_schema().execute(
        query, variable_values=variables,
        context_value=new_context(store, clock=lambda: END_US)))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


def test_kafka_faust_cassandra_graphql_answer_like_networkx(
    tmp_path: Path, cassandra_graphs: CassandraGraphs
) -> None:
    bootstrap = _kafka_bootstrap()
    store = cassandra_graphs.store(clock=lambda: END_US)
    prefix = f"fge2e-{uuid.uuid4().hex[:8]}."
    settings = Settings().updated(
        kafka={"bootstrap": bootstrap, "topic_prefix": prefix, "consumer_group": f"{prefix}ingest"},
        ingest={"dedup_window_s": 1.0})
    messages, defects = simulated_messages(replace(CONFIG, end_time_us=END_US))
    try:
        sent = publish_messages(settings, [(m.topic, m.payload) for m in messages])
        assert sent == len(messages)
        points, port = cassandra_graphs.where()
        env = {**os.environ, "FLEETGRAPH_KEYSPACE_PREFIX": store.config.keyspace_prefix,
               "FLEETGRAPH_CASSANDRA_HOSTS": ",".join(points),
               "FLEETGRAPH_CASSANDRA_PORT": str(port)}
        worker = subprocess.run(
            [sys.executable, "-m", "fleetgraph", "worker", "--store", "cassandra",
             "--bootstrap", bootstrap, "--topic-prefix", prefix,
             "--group", settings.kafka.consumer_group, "--dedup-window", "1",
             "--data-dir", str(tmp_path), "--exit-when-idle", "15", "--loglevel", "warning"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]

        codec_events = [(m.topic, e) for m, e in _decoded(messages, defects)]
        graph = oracle_graph.build_graph(codec_events)
        faulted = sorted({e["component_id"] for t, e in codec_events
                          if t == "telemetry" and e["kind"] == "status" and e.get("fault_id")})
        answered = 0
        for component in faulted:
            items = ask(store, AFFECTED, id=component)["affectedJobs"]["items"]
            mine = [{"job": i["jobId"], "fault": i["faultId"], "server": i["serverId"],
                     "rack": i["rackId"], "site": i["siteId"],
                     "overlap_from": us(i["overlapFrom"]), "overlap_to": us(i["overlapTo"])}
                    for i in items]
            assert mine == oracle.affected_jobs(graph, component), component
            answered += len(mine)
        assert answered > 0
        frm = END_US - 24 * H
        for model in sorted(n for n in graph.nodes if str(n).startswith("model:")):
            ranking = ask(store, HOTNESS, id=model, **{"from": iso(frm), "to": iso(END_US)})
            expected = oracle.model_hotness(graph, model, frm, END_US)
            assert [s["siteId"] for s in ranking["modelHotness"]] == [
                s["site"] for s in expected], model
            assert [s["score"] for s in ranking["modelHotness"]] == pytest.approx(
                [s["score"] for s in expected], rel=1e-9)
    finally:
        cassandra_graphs.release(store)
        asyncio.run(delete_topics(bootstrap, [*TopicNames(prefix).all(FLEET),
                                              f"{settings.kafka.consumer_group}-dedup-changelog"]))


def _decoded(messages: list[Any], defects: dict[str, str]) -> list[tuple[Any, dict[str, Any]]]:
    from fleetgraph.schemas import load_event_codec

    codec = load_event_codec()
    return [(m, codec.decode(m.payload)[1]) for m in messages if m.source not in defects]
