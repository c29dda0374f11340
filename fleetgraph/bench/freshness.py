"""Freshness on the real stack: from an event's production to its answer in GraphQL.

A worker (``fleetgraph worker``, sink on Cassandra) and a GraphQL
server (``fleetgraph serve --store cassandra``) run on the same fresh
keyspaces. A background stream (a simulated fleet) is published at a steady
rate; meanwhile a probe event (a new dataset registered) is produced every
``probe_every_s``, and the server is polled until ``node(id)`` finds it. A probe
is a new node, so the worker's dedup writes it on its leading edge, at once (a
key's later updates within its window are held, until its end or at most
``FLEETGRAPH_DEDUP_MAX_HOLD_S``; in ``trailing`` mode the
window is part of every figure). What a probe waits for, then: the worker taking
the source message, the dedup's short tick and the graph record's
acknowledgement, the sink's next batch, the server's read.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import click
import httpx

from fleetgraph.bench import stack
from fleetgraph.bench.process import Child
from fleetgraph.bench.stack_ingest import PARTITIONS, fleet_messages
from fleetgraph.bench.stats import summary_ms
from fleetgraph.core.clock import wall_clock_us
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.producer import send_all
from fleetgraph.ingest.kafka.topics import TopicNames, ensure_topics
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.codec import EventCodec
from fleetgraph.settings import Settings

POLL_S = 0.05
POLL_IDS = 20  # the oldest probes asked for in one request: polling must stay light, or
# a server that falls behind loads Cassandra more and falls further behind
WARM_UP_S = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe_event(dataset_id: str, event_time_us: int) -> dict[str, Any]:
    return {"event_id": f"probe-{dataset_id}", "event_time": event_time_us,
            "kind": "registered", "artifact_id": dataset_id, "artifact_kind": "dataset",
            "content_hash": "sha256-0", "size_bytes": 1, "model_id": None,
            "derived_from": [], "site_id": None, "tier": None, "hits": None,
            "attributes": {}}


def visibility_query(ids: list[str]) -> str:
    """One GraphQL request asking for each id: ``p0: node(id: "...") { id }``..."""
    fields = " ".join(f'p{i}: node(id: "{node_id}") {{ id }}' for i, node_id in enumerate(ids))
    return f"{{ {fields} }}"


class Probes:
    """Probe events in flight, and how long each took to become visible."""

    def __init__(self, producer: Any, topic: str, codec: EventCodec, client: httpx.AsyncClient,
                 url: str) -> None:
        self.producer, self.topic, self.codec = producer, topic, codec
        self.client, self.url = client, url
        self.token = uuid.uuid4().hex[:8]
        self.sent = 0
        self.pending: dict[str, float] = {}
        self.latencies_ms: list[float] = []

    async def send(self) -> str:
        dataset = f"dataset:bench-probe-{self.token}-{self.sent}"
        self.sent += 1
        started = time.perf_counter()
        payload = self.codec.encode("artifacts", probe_event(dataset, wall_clock_us()))
        await (await self.producer.send(self.topic, payload, key=dataset.encode()))
        self.pending[dataset] = started
        return dataset

    async def poll(self) -> None:
        ids = list(self.pending)[:POLL_IDS]
        if not ids:
            return
        try:
            response = await self.client.post(self.url, json={"query": visibility_query(ids)})
            data = response.json().get("data") or {}
        except httpx.HTTPError:
            return  # the server is not up yet: nothing visible
        now = time.perf_counter()
        for i, dataset in enumerate(ids):
            if data.get(f"p{i}"):
                self.latencies_ms.append((now - self.pending.pop(dataset)) * 1000)

    async def wait_all(self, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while self.pending and time.perf_counter() < deadline:
            await self.poll()
            await asyncio.sleep(POLL_S)


async def drive(settings: Settings, url: str, background: list[tuple[str, bytes]],
                rate: float, duration_s: float, probe_every_s: float) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    codec = load_event_codec()
    names = TopicNames(settings.kafka.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all",
                                linger_ms=5)
    await producer.start()
    try:
        async with httpx.AsyncClient(timeout=30.0) as client:
            probes = Probes(producer, f"{names.prefix}artifacts", codec, client, url)
            # the inventory's first minutes, then a probe: the worker is up once it is seen
            sent = await send_all(producer, names, codec, background[:2000])
            await probes.send()
            await probes.wait_all(WARM_UP_S)
            if probes.pending:
                raise RuntimeError(f"the warm-up probe was not visible after {WARM_UP_S:.0f} s")
            warm_up_ms = probes.latencies_ms.pop()
            began = time.perf_counter()
            next_probe = began
            while time.perf_counter() - began < duration_s:
                target = int((time.perf_counter() - began) * rate) + 2000
                if target > sent and sent < len(background):
                    sent += await send_all(producer, names, codec, background[sent:target])
                if time.perf_counter() >= next_probe:
                    await probes.send()
                    next_probe += probe_every_s
                await probes.poll()
                await asyncio.sleep(POLL_S)
            elapsed = time.perf_counter() - began
            await probes.wait_all(60.0)
    finally:
        await producer.stop()
    return {"probes": probes.sent - 1, "lost": len(probes.pending),
            "background_messages": sent - 2000,
            "background_rate": round((sent - 2000) / elapsed),
            "warm_up_ms": round(warm_up_ms), **summary_ms(probes.latencies_ms)}


def wait_for_server(url: str, server: Child, timeout_s: float = 90.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("the GraphQL server exited")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the GraphQL server did not answer {url} in {timeout_s:.0f} s")


def run_window(settings: Settings, window_s: float, background: list[tuple[str, bytes]],
               rate: float, duration_s: float, probe_every_s: float, work: Path
               ) -> dict[str, Any]:
    own = settings.updated(
        kafka={"topic_prefix": f"{settings.kafka.topic_prefix}w{window_s:g}.".replace(".", "-", 1),
               "consumer_group": f"{settings.kafka.consumer_group}-w{window_s:g}"},
        ingest={"dedup_window_s": window_s})
    ensure_topics(own.kafka.bootstrap, TopicNames(own.kafka.topic_prefix), FLEET, PARTITIONS)
    env = {"FLEETGRAPH_KEYSPACE_PREFIX": own.store.cassandra.keyspace_prefix,
           "FLEETGRAPH_CASSANDRA_HOSTS": own.store.cassandra.hosts,
           "FLEETGRAPH_CASSANDRA_PORT": str(own.store.cassandra.port),
           "FLEETGRAPH_STORE": "cassandra"}
    port = free_port()
    server = Child(["-m", "fleetgraph", "serve", "--store", "cassandra", "--port", str(port)],
                   env=env, log=work / f"server-{port}.log")
    worker = Child(["-m", "fleetgraph", "worker", "--store", "cassandra",
                    "--bootstrap", own.kafka.bootstrap, "--topic-prefix", own.kafka.topic_prefix,
                    "--group", own.kafka.consumer_group, "--dedup-window", str(window_s),
                    "--data-dir", str(work), "--partitions", str(PARTITIONS),
                    "--loglevel", "info"], env=env, log=work / f"worker-{port}.log")
    try:
        wait_for_server(f"http://127.0.0.1:{port}/healthz", server)
        figures = asyncio.run(drive(own, f"http://127.0.0.1:{port}/graphql", background,
                                    rate, duration_s, probe_every_s))
    except Exception as exc:
        raise RuntimeError(f"{exc}\nworker: {worker.output(1500)}\n"
                           f"server: {server.output(1500)}") from exc
    finally:
        worker.stop()
        server.stop()
        stack.delete_topics(own)
    return {"dedup_window_s": window_s, **figures,
            "worker_peak_rss_mib": round(worker.peak_rss_mib or 0.0, 1),
            "server_peak_rss_mib": round(server.peak_rss_mib or 0.0, 1)}


def run(settings: Settings, windows: list[float], end_us: int, *, rate: float = 500.0,
        duration_s: float = 60.0, probe_every_s: float = 0.25) -> dict[str, Any]:
    own = stack.private(settings, "fresh")
    background = fleet_messages(8, 24.0, end_us)
    results: dict[str, Any] = {"keyspace_prefix": own.store.cassandra.keyspace_prefix, "runs": []}
    with tempfile.TemporaryDirectory() as tmp, stack.keyspaces(own):
        for window in windows:
            click.echo(f"[freshness] dedup window {window:g} s: worker, server, "
                       f"{rate:g} msg/s background, a probe every {probe_every_s:g} s "
                       f"for {duration_s:g} s ...", err=True)
            results["runs"].append(run_window(own, window, background, rate, duration_s,
                                              probe_every_s, Path(tmp)))
    return results
