"""The reference scheduler against the ASGI app in-process, its events back through the
pipeline into the store.

The fleet is built from events (inventory, telemetry, artifacts) through the pipeline,
as in production; times in hours from T0 = 2026-11-21 00:00 UTC, "now" is T0 + 24 h::

    site:s1  west, us; headroom 800 kW, battery 0.9, solar 400 kW
             rack:s1-r1 cooled by cdu:s1-c1; server:s1-r1-n1 (4 GPUs), server:s1-r1-n2 (4)
    site:s2  east, us; headroom 100 kW
             rack:s2-r1 cooled by cdu:s2-c1; server:s2-r1-n1 (8 GPUs)
             rack:s2-r2 cooled by cdu:s2-c2, in fault since 20 h; server:s2-r2-n1 (8 GPUs)
    site:s3  west, de; rack:s3-r1; server:s3-r1-n1 (8 GPUs)
    model:m  weights artifact:sha256-w replicated to site:s3 (tier 0) at 20 h
    dataset:d1 registered, replicated to site:s1
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from fleetgraph.cli.main import cli
from fleetgraph.cli.scheduler import DEFAULT_CANDIDATES, schedule_file
from fleetgraph.clients.scheduler import (
    EventLogPublisher,
    JobRequest,
    MemoryPublisher,
    PlacementClient,
    Scheduler,
    SchedulerError,
    ServerGpus,
    read_requests,
)
from fleetgraph.clients.scheduler.client import DEFAULT_CANDIDATES as CLIENT_CANDIDATES
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.sources.eventlog import read_event_log, write_event_log
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.serving.app import create_app
from fleetgraph.storage.base import Direction
from fleetgraph.storage.embedded import SQLiteGraphStore

H = 3_600_000_000
T0 = 1_795_219_200_000_000  # 2026-11-21 00:00 UTC
NOW = T0 + 24 * H
CODEC = load_event_codec()


class Events:
    """Builds encoded messages for the source topics."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def add(self, topic: str, t: int, **fields: Any) -> None:
        event = {"event_id": f"ev{len(self.messages)}", "event_time": t, **fields}
        self.messages.append((topic, CODEC.encode(topic, event)))

    def install(self, component: str, parent: str | None, **attributes: str) -> None:
        self.add("inventory", T0 - H, kind="installed", component_id=component,
                 parent_id=parent, attributes=attributes)

    def servers(self, rack: str, servers: dict[str, int]) -> None:
        for server, gpus in servers.items():
            self.install(server, rack)
            for g in range(gpus):
                self.install(f"gpu:{server[7:]}-g{g}", server)


def fleet_events() -> list[tuple[str, bytes]]:
    e = Events()
    e.install("site:s1", None, region="west", jurisdiction="us")
    e.install("site:s2", None, region="east", jurisdiction="us")
    e.install("site:s3", None, region="west", jurisdiction="de")
    for rack, cdu, site in (("rack:s1-r1", "cdu:s1-c1", "site:s1"),
                            ("rack:s2-r1", "cdu:s2-c1", "site:s2"),
                            ("rack:s2-r2", "cdu:s2-c2", "site:s2"),
                            ("rack:s3-r1", None, "site:s3")):
        e.install(rack, site)
        if cdu is not None:
            e.install(cdu, site)
            e.add("inventory", T0 - H, kind="linked", component_id=rack,
                  relation="cooled_by", target_id=cdu)
    e.servers("rack:s1-r1", {"server:s1-r1-n1": 4, "server:s1-r1-n2": 4})
    e.servers("rack:s2-r1", {"server:s2-r1-n1": 8})
    e.servers("rack:s2-r2", {"server:s2-r2-n1": 8})
    e.servers("rack:s3-r1", {"server:s3-r1-n1": 8})
    e.add("telemetry", T0, kind="site_energy", component_id="site:s1",
          power_headroom_kw=800.0, battery_soc=0.9, solar_kw=400.0)
    e.add("telemetry", T0, kind="site_energy", component_id="site:s2", power_headroom_kw=100.0)
    e.add("telemetry", T0 + 20 * H, kind="status", component_id="cdu:s2-c2", status="fault",
          fault_id="cdu:s2-c2@20261121T200000Z", fault_code="flow_low")
    e.add("artifacts", T0, kind="registered", artifact_id="model:m")
    e.add("artifacts", T0, kind="registered", artifact_id="artifact:sha256-w",
          artifact_kind="weights", model_id="model:m")
    e.add("artifacts", T0 + 20 * H, kind="replicated", artifact_id="artifact:sha256-w",
          site_id="site:s3", tier=0)
    e.add("artifacts", T0, kind="registered", artifact_id="dataset:d1")
    e.add("artifacts", T0 + 2 * H, kind="replicated", artifact_id="dataset:d1",
          site_id="site:s1", tier=1)
    return e.messages


class Fleet:
    """The store, the pipeline that fills it, and the app over it."""

    def __init__(self) -> None:
        self.store = SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW)
        self.dead_letters = DeadLetterList()
        self.pipeline = Pipeline(FLEET, CODEC, StoreSink(self.store), self.dead_letters,
                                 validator=Validator(FLEET, clock=lambda: NOW))
        self.ingest(fleet_events())
        self.app = create_app(self.store, clock=lambda: NOW)

    def ingest(self, messages: list[tuple[str, bytes]]) -> None:
        materialized = [Message(t, p, f"test:{i}") for i, (t, p) in enumerate(messages)]
        run_embedded(self.pipeline, lambda: materialized)
        assert self.dead_letters.records == []

    def targets(self, edge_type: str, node_id: str) -> list[tuple[str, dict[str, Any]]]:
        edges = self.store.neighbours(edge_type, [node_id], Direction.OUT)[node_id]
        return [(e.to_id, e.props) for e in edges]


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    made = Fleet()
    yield made
    made.store.close()


def schedule(fleet: Fleet, requests: list[JobRequest], publisher: Any,
             token: str | None = None, app: Any = None) -> list[Any]:
    async def go() -> list[Any]:
        transport = httpx.ASGITransport(app=app or fleet.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as http:
            client = PlacementClient(http, "http://fleet/graphql", token=token)
            # the scheduler's clock a minute before the server's now: its placements
            # are in the graph's past once ingested
            scheduler = Scheduler(client, publisher, clock=lambda: NOW - 60_000_000)
            return await scheduler.schedule_all(requests)

    return asyncio.run(go())


REQUESTS = [
    JobRequest("job:j1", 4, model_id="model:m", dataset_ids=("dataset:d1",),
               allowed_jurisdictions=("us",), application_id="application:a1",
               user_id="user:u1", job_kind="training"),
    JobRequest("job:j2", 8, allowed_jurisdictions=("us",), user_id="user:u1"),
    JobRequest("job:j3", 2, model_id="model:m", preferred_region="west"),
    JobRequest("job:j4", 64),
]


def test_jobs_are_placed_and_the_graph_shows_it(fleet: Fleet) -> None:
    publisher = MemoryPublisher()
    decisions = schedule(fleet, REQUESTS, publisher)
    by_job = {d.job_id: d for d in decisions}
    # j1 (4 GPUs, us): s1 and s2 both have 8 free; s1 holds the dataset and has more
    # energy. Both of s1's servers have exactly 4: the lowest id is taken.
    assert by_job["job:j1"].site_id == "site:s1"
    assert by_job["job:j1"].placement == (
        ServerGpus("server:s1-r1-n1", tuple(f"gpu:s1-r1-n1-g{g}" for g in range(4))),
    )
    # j2 (8, us): s1 still ranks first (the graph has not seen j1 yet) but has only 4
    # left after j1's claim; s2's healthy rack has 8 (rack s2-r2's CDU is in fault)
    assert by_job["job:j2"].site_id == "site:s2"
    assert by_job["job:j2"].placement == (
        ServerGpus("server:s2-r1-n1", tuple(f"gpu:s2-r1-n1-g{g}" for g in range(8))),
    )
    # j3 (2, anywhere, west, model m): s3 has m's weights hot, is west, 8 free
    assert by_job["job:j3"].site_id == "site:s3"
    assert by_job["job:j3"].placement == (
        ServerGpus("server:s3-r1-n1", ("gpu:s3-r1-n1-g0", "gpu:s3-r1-n1-g1")),
    )
    # j4 (64): no site has room; submitted, left pending
    assert (by_job["job:j4"].placed, by_job["job:j4"].reason) == (
        False, "no site can take 64 GPUs (all excluded)"
    )
    kinds = [(e["job_id"], e["kind"]) for d in decisions for e in d.events]
    assert kinds == [("job:j1", "submitted"), ("job:j1", "started"), ("job:j2", "submitted"),
                     ("job:j2", "started"), ("job:j3", "submitted"), ("job:j3", "started"),
                     ("job:j4", "submitted")]
    assert [t for t, _ in publisher.messages] == ["jobs"] * 7
    decoded = [CODEC.decode(p)[1] for _, p in publisher.messages]
    assert decoded[1]["placement"] == [
        {"server_id": "server:s1-r1-n1", "gpu_ids": [f"gpu:s1-r1-n1-g{g}" for g in range(4)]}
    ]
    assert decoded[0]["event_time"] < decoded[1]["event_time"]  # submitted before started

    fleet.ingest(publisher.messages)
    j1 = fleet.store.get_nodes(["job:j1"])["job:j1"].props
    assert (j1["status"], j1["site_id"], j1["jurisdiction"], j1["gpus_requested"]) == (
        "running", "site:s1", "us", 4
    )
    ran_on = fleet.targets("ran_on", "job:j1")
    assert [(server, props["gpus"], props.get("valid_to")) for server, props in ran_on] == [
        ("server:s1-r1-n1", 4, None)
    ]
    assert [g for g, _ in fleet.targets("allocated", "job:j1")] == [
        f"gpu:s1-r1-n1-g{g}" for g in range(4)
    ]
    assert [d for d, _ in fleet.targets("read", "job:j1")] == ["dataset:d1"]
    assert [m for m, _ in fleet.targets("used_model", "job:j1")] == ["model:m"]
    assert [s for s, _ in fleet.targets("ran_on", "job:j2")] == ["server:s2-r1-n1"]
    assert [s for s, _ in fleet.targets("ran_on", "job:j3")] == ["server:s3-r1-n1"]
    j4 = fleet.store.get_nodes(["job:j4"])["job:j4"].props
    assert j4["status"] == "pending" and fleet.targets("ran_on", "job:j4") == []

    # asked again, the graph knows the GPUs are taken
    again = schedule(fleet, [JobRequest("job:j5", 4, allowed_jurisdictions=("us",))],
                     MemoryPublisher())
    assert again[0].placement == (
        ServerGpus("server:s1-r1-n2", tuple(f"gpu:s1-r1-n2-g{g}" for g in range(4))),
    )
    full = schedule(fleet, [JobRequest("job:j6", 5, allowed_jurisdictions=("us",))],
                    MemoryPublisher())
    assert full[0].placed is False


def test_when_the_first_candidates_are_all_claimed_it_asks_for_every_one(
    fleet: Fleet,
) -> None:
    async def go() -> list[Any]:
        transport = httpx.ASGITransport(app=fleet.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as http:
            scheduler = Scheduler(PlacementClient(http, "http://fleet/graphql"),
                                  MemoryPublisher(), clock=lambda: NOW, candidates=1)
            return await scheduler.schedule_all([
                JobRequest("job:a", 8, allowed_jurisdictions=("us",)),
                JobRequest("job:b", 8, allowed_jurisdictions=("us",)),
                JobRequest("job:c", 8, allowed_jurisdictions=("us",)),
            ])

    a, b, c = asyncio.run(go())
    assert {a.site_id, b.site_id} == {"site:s1", "site:s2"}
    assert (c.placed, c.reason) == (
        False, "the 2 candidate sites have fewer than 8 GPUs left after this run's placements"
    )


def test_the_event_log_is_appended_to_and_replays_into_the_graph(
    fleet: Fleet, tmp_path: Path
) -> None:
    log = tmp_path / "scheduled.avro"
    write_event_log(log, [])  # an existing, empty log
    with EventLogPublisher(log) as publisher:
        schedule(fleet, REQUESTS[:1], publisher)
    with EventLogPublisher(log) as publisher:
        schedule(fleet, REQUESTS[2:3], publisher)
    messages = list(read_event_log(log))
    assert [CODEC.decode(m.payload)[1]["job_id"] for m in messages] == [
        "job:j1", "job:j1", "job:j3", "job:j3"
    ]
    run_embedded(fleet.pipeline, lambda: read_event_log(log))
    assert [s for s, _ in fleet.targets("ran_on", "job:j3")] == ["server:s3-r1-n1"]


def test_the_command_line(fleet: Fleet, tmp_path: Path, capsys: Any) -> None:
    requests = tmp_path / "pending.jsonl"
    requests.write_text(
        json.dumps({"job_id": "job:k1", "gpus": 2, "model_id": None, "dataset_ids": [],
                    "allowed_jurisdictions": ["de"], "preferred_region": None,
                    "application_id": "application:a1", "user_id": "user:u1",
                    "job_kind": "inference"}) + "\n\n"
        + json.dumps({"job_id": "job:k2", "gpus": 100}) + "\n"
    )
    out = tmp_path / "events.avro"
    transport = httpx.ASGITransport(app=fleet.app)
    assert asyncio.run(schedule_file("http://fleet/graphql", requests, out,
                                     transport=transport)) == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["job_id"], d["placed"], d["site_id"]) for d in lines] == [
        ("job:k1", True, "site:s3"), ("job:k2", False, None)
    ]
    assert lines[0]["placement"] == [
        {"server_id": "server:s3-r1-n1", "gpu_ids": ["gpu:s3-r1-n1-g0", "gpu:s3-r1-n1-g1"]}
    ]
    assert len(list(read_event_log(out))) == 3


def test_the_command() -> None:
    """``fleetgraph scheduler``: its options, and the client's default candidates."""
    runner = CliRunner()
    shown = runner.invoke(cli, ["scheduler", "--help"])
    assert shown.exit_code == 0, shown.output
    for option in ("--url", "--requests", "--out", "--token", "--candidates", "--timeout"):
        assert option in shown.output
    missing = runner.invoke(cli, ["scheduler", "--requests", "r.jsonl", "--out", "o.avro"])
    assert missing.exit_code == 2 and "--url" in missing.output
    assert DEFAULT_CANDIDATES == CLIENT_CANDIDATES


def test_tokens(fleet: Fleet) -> None:
    app = create_app(fleet.store, clock=lambda: NOW, tokens={"s3cret": "scheduler"})
    placed = schedule(fleet, REQUESTS[2:3], MemoryPublisher(), token="s3cret", app=app)
    assert placed[0].site_id == "site:s3"
    with pytest.raises(SchedulerError, match="401: missing or unknown API token"):
        schedule(fleet, REQUESTS[2:3], MemoryPublisher(), app=app)


def test_requests_are_checked(tmp_path: Path) -> None:
    request = JobRequest.from_json({"job_id": "job:x", "gpus": 1,
                                    "dataset_ids": ["dataset:d", "artifact:sha256-a"]})
    assert request.dataset_ids == ("dataset:d", "artifact:sha256-a")
    for bad, message in (
        ({"job_id": "job:x", "gpus": 0}, "gpus must be a positive integer"),
        ({"job_id": "site:x", "gpus": 1}, "job_id must be a job id"),
        ({"job_id": "job:x", "gpus": 1, "dataset_ids": ["model:m"]}, "must be a dataset id"),
        ({"job_id": "job:x", "gpus": 1, "gpu": 2}, "unknown request fields"),
        ({"job_id": "job:x", "gpus": 1, "allowed_jurisdictions": "us"}, "list of strings"),
    ):
        with pytest.raises(SchedulerError, match=message):
            JobRequest.from_json(bad)
    path = tmp_path / "bad.jsonl"
    path.write_text('{"job_id": "job:x", "gpus": 1}\nnot json\n')
    with pytest.raises(SchedulerError, match=r"bad\.jsonl:2"):
        read_requests(path)


def test_graphql_errors_are_scheduler_errors(fleet: Fleet) -> None:
    with pytest.raises(SchedulerError, match="not a model id"):
        # built directly, the request skips from_json's checks: the server refuses it
        schedule(fleet, [JobRequest("job:x", 1, model_id="dataset:d1")], MemoryPublisher())
