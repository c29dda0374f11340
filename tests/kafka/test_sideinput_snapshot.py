"""A worker started from its topology snapshot enriches exactly as one that read the
whole inventory topic; a snapshot that does not fit the topic is not used.

The follower runs over an in-memory consumer with aiokafka's calls (seek, offsets,
getmany, position): no broker. The inventory is the bench's seeded churn (racks moved
between CDUs and shelves, GPUs and servers replaced, sites updated), with duplicates,
late arrivals and junk mixed in, keyed by component over three partitions.
"""

from __future__ import annotations

import asyncio
import json
import random
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from fleetgraph.bench.startup import inventory_events
from fleetgraph.core.units import DAY_US, HOUR_US
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.sideinput import (
    InventoryFollower,
    InventorySideInput,
    digest,
    read_snapshot,
)
from fleetgraph.ingest.message import Event
from fleetgraph.ingest.stages.enrich import enrich
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import Topic

TOPIC = "fg.inventory"
PARTITIONS = 3
END_US = 1_796_000_000_000_000
DAYS = 40


class Partition(NamedTuple):
    topic: str
    partition: int


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    value: bytes


class MemoryConsumer:
    """The few calls of aiokafka's consumer the follower makes, over lists of payloads."""

    def __init__(self, logs: list[list[bytes]], batch: int = 50) -> None:
        self.logs = logs
        self.batch = batch
        self.pos: dict[Partition, int] = {}

    async def end_offsets(self, tps: list[Partition]) -> dict[Partition, int]:
        return {tp: len(self.logs[tp.partition]) for tp in tps}

    async def beginning_offsets(self, tps: list[Partition]) -> dict[Partition, int]:
        return dict.fromkeys(tps, 0)

    def seek(self, tp: Partition, offset: int) -> None:
        self.pos[tp] = offset

    async def position(self, tp: Partition) -> int:
        return self.pos[tp]

    async def getmany(self, *tps: Partition, timeout_ms: int = 0,
                      max_records: int | None = None) -> dict[Partition, list[Record]]:
        await asyncio.sleep(0)
        budget = min(max_records or self.batch, self.batch)
        batches = {}
        for tp in tps or tuple(self.pos):
            start = self.pos[tp]
            values = self.logs[tp.partition][start:start + budget]
            if values:
                batches[tp] = [Record(tp.topic, tp.partition, start + i, v)
                               for i, v in enumerate(values)]
                self.pos[tp] = start + len(values)
                budget -= len(values)
            if budget <= 0:
                break
        return batches


def _side_input() -> InventorySideInput:
    return InventorySideInput(load_event_codec(), Validator(FLEET, clock=lambda: END_US),
                              Topology())


async def _follow(logs: list[list[bytes]], snapshot: Path | None) -> InventoryFollower:
    """A follower over ``logs`` until it has caught up (and written its snapshot)."""
    follower = InventoryFollower("unused:9092", TOPIC, PARTITIONS, _side_input(),
                                 snapshot_path=snapshot, freeze=False)
    tps = [Partition(TOPIC, p) for p in range(PARTITIONS)]
    task = asyncio.create_task(follower.start(MemoryConsumer(logs), tps))
    ready = asyncio.create_task(follower.ready.wait())
    await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()  # the follower failed: raise what it raised
    while snapshot is not None and follower.snapshots_written == 0 and not task.done():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return follower


def follow(logs: list[list[bytes]], snapshot: Path | None = None) -> InventoryFollower:
    return asyncio.run(_follow(logs, snapshot))


def inventory_topic(seed: int) -> list[list[bytes]]:
    """Encoded inventory by partition (keyed by component), in a plausible arrival order:
    some events late, some twice, a few undecodable or from the future."""
    rng = random.Random(seed)
    codec = load_event_codec()
    events = [sim.event for sim in inventory_events(3, DAYS, churn=25.0, seed=seed,
                                                    end_us=END_US)]
    arrivals = [(e["event_time"] + (rng.randrange(HOUR_US) if rng.random() < 0.05 else 0), e)
                for e in events]
    arrivals += [(t + rng.randrange(HOUR_US), e) for t, e in arrivals if rng.random() < 0.03]
    future = dict(events[-1], event_id="inventory-future", event_time=END_US + 2 * HOUR_US)
    arrivals.append((END_US - DAY_US, future))
    arrivals.sort(key=lambda pair: pair[0])
    logs: list[list[bytes]] = [[] for _ in range(PARTITIONS)]
    for _, event in arrivals:
        key = event["component_id"].encode()
        logs[zlib.crc32(key) % PARTITIONS].append(codec.encode(Topic.INVENTORY, event))
        if rng.random() < 0.002:
            logs[rng.randrange(PARTITIONS)].append(b"\xc3\x01junk")
    return logs


def prefix(logs: list[list[bytes]], rng: random.Random) -> list[list[bytes]]:
    return [log[:rng.randrange(len(log) + 1)] for log in logs]


def stream(topology: Topology, rng: random.Random, count: int = 400) -> list[Event]:
    """Telemetry and job events at random times of the window (and before it), naming
    components the topology has seen."""
    sources = sorted({source for (_, source) in topology._out})
    units = sorted({target for (relation, target) in topology._in if relation != "in"})
    servers = [s for s in sources if s.startswith("server:")]
    start = END_US - (DAYS + 1) * DAY_US
    events = []
    for n in range(count):
        t = rng.randrange(start, END_US)
        if n % 4 == 3:
            fields: dict[str, Any] = {"event_id": f"jobs-{n}", "event_time": t,
                                      "kind": "started", "job_id": f"job:{n}",
                                      "placement": [{"server_id": rng.choice(servers),
                                                     "gpu_ids": []}]}
            events.append(Event(Topic.JOBS, fields, ""))
        else:
            component = rng.choice(units if n % 2 else sources)
            fields = {"event_id": f"telemetry-{n}", "event_time": t, "kind": "reading",
                      "component_id": component, "site_id": None, "metric": "flow_lpm"}
            events.append(Event(Topic.TELEMETRY, fields, ""))
    return events


def enriched(topology: Topology, events: list[Event]) -> list[dict[str, Any]]:
    out = []
    for event in events:
        copy = Event(event.topic, dict(event.fields), event.source)
        enrich(copy, topology)
        out.append(copy.enriched)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_worker_started_from_its_snapshot_enriches_as_one_that_read_everything(
        tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    logs = inventory_topic(seed)
    snapshot = tmp_path / "topology.json"
    before = follow(prefix(logs, rng), snapshot)  # a worker that stopped part way
    assert before.snapshots_written == 1

    restarted = follow(logs, snapshot)
    whole = follow(logs)
    assert restarted.restored is not None and whole.restored is None
    assert restarted.read == sum(map(len, logs)) - before.read
    assert restarted.side_input.refused + before.side_input.refused >= 1  # junk, the future

    mine, theirs = restarted.side_input.topology, whole.side_input.topology
    assert sorted(mine.facts()) == sorted(theirs.facts())
    events = stream(theirs, rng)
    answers = enriched(theirs, events)
    assert sum(bool(a.get("racks")) for a in answers) > 20  # the stream does ask
    assert sum(bool(a.get("region")) for a in answers) > 20
    assert enriched(mine, events) == answers
    # it wrote a snapshot of its own, of the whole topic
    again = read_snapshot(snapshot, TOPIC)
    assert again is not None
    assert again.offsets == {p: len(log) for p, log in enumerate(logs)}


def test_a_snapshot_of_a_recreated_topic_is_not_used(tmp_path: Path) -> None:
    snapshot = tmp_path / "topology.json"
    follow(inventory_topic(4), snapshot)
    other = inventory_topic(5)  # as long or longer: the offsets alone would pass
    assert all(len(a) >= len(b) for a, b in zip(other, inventory_topic(4), strict=True))
    restarted = follow(other, snapshot)
    assert restarted.restored is None
    assert sorted(restarted.side_input.topology.facts()) == sorted(
        follow(other).side_input.topology.facts())


def test_a_snapshot_past_the_end_or_unreadable_is_not_used(tmp_path: Path) -> None:
    logs = inventory_topic(6)
    snapshot = tmp_path / "topology.json"
    follow(logs, snapshot)
    shorter = [log[: len(log) // 2] for log in logs]
    assert follow(shorter, snapshot).restored is None
    malformed = {"version": 1, "topic": TOPIC, "offsets": {"0": 1},
                 "last": {"0": digest(logs[0][0])},  # the right message: only the state is bad
                 "state": {"links": [["cooled_by", "rack:a"]], "sites": []}}
    for body in (b"{not json", json.dumps({"version": 99, "topic": TOPIC}).encode(),
                 json.dumps({"version": 1, "topic": "other", "offsets": {}, "last": {},
                             "state": {"links": [], "sites": []}}).encode(),
                 json.dumps(malformed).encode()):
        snapshot.write_bytes(body)
        restarted = follow(logs, snapshot)
        assert restarted.restored is None
        assert restarted.read == sum(map(len, logs))
