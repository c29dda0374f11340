"""The enrichment side input on Kafka: every worker reads all of the inventory.

Telemetry and job events are enriched from the topology (which racks a CDU
cooled at the event's time, which site a server is in), and a worker processes
only some partitions of the inventory topic. So each worker also follows the
whole inventory topic itself, every partition, outside the consumer group, and
applies every valid inventory event to its topology. The processing agents
wait until it has caught up with the end offsets seen at start, as the
embedded runner reads side inputs first; later inventory is applied as it
arrives. Topology.apply merges by event time, so applying an event twice (here
and in the inventory agent's own pipeline) changes nothing.

Start-up from a snapshot: the follower writes its topology with the offset it
has read up to in each partition (:class:`TopologySnapshot`, one JSON file in
the worker's data dir) once caught up and then every few minutes. A worker
that finds one restores it and reads each partition from its offset on,
instead of from the beginning: start-up costs the size of the topology plus
the inventory since the snapshot, not the topic's whole history (1000 sites
with a year of churn: BENCHMARKS.md, "Worker start-up at fleet scale"). The
enrichment is the same: the topology is a function of the set of valid events
applied (merged by event time, in any order, idempotently), and the snapshot
holds every event before its offsets, the replay every event from them. (An
event's validity is judged once, when it is first read, as on a worker that
never restarted: an event refused as too far in the future stays refused.) A
snapshot of another topic, or with an offset past a partition's end (the
topic was recreated), is ignored and the topic read from the beginning.

Chosen over a Faust GlobalTable or a compacted topic: the table would have to
hold every inventory event (the topology is made of validity intervals, not of
the latest state per component), and the topic itself already is that log; a
compacted view written by several workers could lose a change to a stale
writer, while each worker's own snapshot has one writer.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.stages.decode import decode
from fleetgraph.ingest.stages.filter import noise_reason
from fleetgraph.ingest.stages.topology import Topology, collector_paused
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas.codec import EventCodec
from fleetgraph.schemas.topics import Topic
from fleetgraph.settings import Settings

log = logging.getLogger(__name__)

INVENTORY = Topic.INVENTORY.value  # an enum's value costs a call: once per message adds up
SNAPSHOT_VERSION = 1
SNAPSHOT_EVERY_S = 900.0  # a caught-up follower writes its snapshot this often (if it read)


class InventorySideInput:
    """Applies inventory messages to a topology, with the pipeline's own checks."""

    def __init__(self, codec: EventCodec, validator: Validator, topology: Topology) -> None:
        self.codec = codec
        self.validator = validator
        self.topology = topology
        self.applied = 0
        self.refused = 0

    def apply(self, payload: bytes | None, source: str = "") -> bool:
        """Apply one message if it is a valid inventory event; False otherwise."""
        try:
            event = decode(self.codec, Message(INVENTORY, payload or b"", source))
            self.validator.check(event)
        except RejectedEvent:
            self.refused += 1  # the inventory agent dead-letters it
            return False
        if noise_reason(event) is not None:
            return False
        self.topology.apply(event.fields)
        self.applied += 1
        return True


# --- snapshots ------------------------------------------------------------------------
@dataclass(frozen=True)
class TopologySnapshot:
    """A follower's topology, and the next offset it would read in each partition:
    every message of the topic before those offsets is in the topology."""

    topic: str
    offsets: dict[int, int]
    state: dict[str, list[list[Any]]]  # Topology.state()
    # partition -> digest of the message just before its offset: a recreated topic
    # with as many messages does not pass for the one the snapshot was taken of
    last: dict[int, str]


def digest(payload: bytes | None) -> str:
    return hashlib.blake2b(payload or b"", digest_size=16).hexdigest()


def snapshot_path(settings: Settings, topic: str) -> Path:
    """Where a worker keeps its topology snapshot: beside its Faust state, in the data dir."""
    return settings.data_dir / "topology" / f"{topic}.json"


def write_snapshot(path: Path, snapshot: TopologySnapshot) -> int:
    """Write a snapshot atomically (a reader sees the old one or the new one); bytes."""
    body = json.dumps({"version": SNAPSHOT_VERSION, "topic": snapshot.topic,
                       "offsets": {str(p): o for p, o in snapshot.offsets.items()},
                       "last": {str(p): d for p, d in snapshot.last.items()},
                       "state": snapshot.state}, separators=(",", ":")).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with partial.open("wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    return len(body)


def read_snapshot(path: Path, topic: str) -> TopologySnapshot | None:
    """The snapshot at ``path`` if there is a readable one of ``topic``, else None."""
    try:
        body = path.read_bytes()
        with collector_paused():
            data = json.loads(body)
        if data["version"] != SNAPSHOT_VERSION or data["topic"] != topic:
            log.warning("topology snapshot %s is of %s v%s, not %s v%d: not used", path,
                        data["topic"], data["version"], topic, SNAPSHOT_VERSION)
            return None
        offsets = {int(p): int(o) for p, o in data["offsets"].items()}
        last = {int(p): str(d) for p, d in data["last"].items()}
        state = data["state"]
        if not isinstance(state.get("links"), list) or not isinstance(state.get("sites"), list):
            raise ValueError("no links or sites")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("topology snapshot %s is unreadable (%s): not used", path, exc)
        return None
    return TopologySnapshot(topic, offsets, state, last)


# --- following the topic --------------------------------------------------------------
class InventoryFollower:
    """Reads every partition of the inventory topic, forever: from a snapshot's offsets
    when ``snapshot_path`` holds a usable one, else from the beginning."""

    def __init__(self, bootstrap: str, topic: str, partitions: int,
                 side_input: InventorySideInput, *, snapshot_path: Path | None = None,
                 snapshot_every_s: float = SNAPSHOT_EVERY_S, freeze: bool = True) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.side_input = side_input
        self.snapshot_path = snapshot_path
        self.snapshot_every_s = snapshot_every_s
        self.freeze = freeze
        self.ready = asyncio.Event()  # set once caught up with the end offsets seen at start
        self.positions: dict[int, int] = {}  # partition -> the next offset to apply
        self.restored: TopologySnapshot | None = None  # the snapshot started from, no state
        self.restored_links = 0
        self.read = 0  # messages read
        self.snapshots_written = 0
        self._started = (time.perf_counter(), time.process_time())
        self._saved: tuple[float, dict[int, int]] = (0.0, {})
        self._last: dict[int, bytes | None] = {}  # partition -> the last payload read

    async def run(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            consumer.assign(tps)
            await self.start(consumer, tps)
        finally:
            await consumer.stop()

    async def start(self, consumer: Any, tps: list[Any]) -> None:
        """Seek an assigned consumer (to a snapshot's offsets or the beginning), follow."""
        self._started = (time.perf_counter(), time.process_time())
        end = await self._seek(consumer, tps)
        await self._follow(consumer, end)

    async def _seek(self, consumer: Any, tps: list[Any]) -> dict[Any, int]:
        """Restore the snapshot if it fits and seek there (else to the beginning); the
        end offsets to catch up with. (The snapshot read is not kept: its state is as
        big as the topology.)"""
        end: dict[Any, int] = await consumer.end_offsets(tps)
        first = await consumer.beginning_offsets(tps)
        snapshot = await self._usable_snapshot({tp.partition: end[tp] for tp in tps})
        if snapshot is not None and not await self._same_topic(consumer, tps, first, snapshot):
            snapshot = None
        restored = None if snapshot is None else self._restored(snapshot)
        for tp in tps:
            offset = first[tp]
            if snapshot is not None and restored is not None:
                offset = max(offset, snapshot.offsets.get(tp.partition, offset))
            consumer.seek(tp, offset)
            self.positions[tp.partition] = offset
        if snapshot is not None and restored is not None:
            self.side_input.topology.absorb(restored)
            self.restored = replace(snapshot, state={"links": [], "sites": []})
            self.restored_links = len(snapshot.state["links"])
            self._saved = (time.monotonic(), dict(self.positions))  # no news yet
        return end

    async def _usable_snapshot(self, end: dict[int, int]) -> TopologySnapshot | None:
        if self.snapshot_path is None:
            return None
        snapshot = await asyncio.to_thread(read_snapshot, self.snapshot_path, self.topic)
        if snapshot is None:
            return None
        past = {p: o for p, o in snapshot.offsets.items() if o > end.get(p, 0)}
        if past:
            log.warning("topology snapshot %s reads past the end of %s (%s > %s): not used, "
                        "reading from the beginning", self.snapshot_path, self.topic, past, end)
            return None
        return snapshot

    def _restored(self, snapshot: TopologySnapshot) -> Topology | None:
        """The snapshot's topology, or None (logged) if its state is malformed."""
        try:
            return Topology().restore(snapshot.state)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            log.warning("topology snapshot %s holds a malformed state (%r): not used, "
                        "reading from the beginning", self.snapshot_path, exc)
            return None

    async def _same_topic(self, consumer: Any, tps: list[Any], first: dict[Any, int],
                          snapshot: TopologySnapshot) -> bool:
        """Whether the message before each of the snapshot's offsets is the one it read."""
        pending = {}
        for tp in tps:
            offset = snapshot.offsets.get(tp.partition, 0)
            if offset > first[tp]:
                if tp.partition not in snapshot.last:
                    log.warning("topology snapshot %s names no message before offset %d of "
                                "partition %d: not used", self.snapshot_path, offset, tp.partition)
                    return False
                consumer.seek(tp, offset - 1)
                pending[tp] = offset - 1
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500, max_records=len(pending))
            for tp, messages in batches.items():
                if tp not in pending or not messages:
                    continue
                m = messages[0]
                if m.offset != pending.pop(tp) or digest(m.value) != snapshot.last[tp.partition]:
                    log.warning("topology snapshot %s was taken of another %s (partition %d, "
                                "offset %d): not used, reading from the beginning",
                                self.snapshot_path, self.topic, tp.partition, m.offset)
                    return False
        return True

    async def _follow(self, consumer: Any, end: dict[Any, int]) -> None:
        behind = {tp for tp, offset in end.items() if offset > self.positions[tp.partition]}
        if not behind:
            await self._caught_up()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                for m in messages:
                    self.side_input.apply(m.value, f"{m.topic}/{m.partition}/{m.offset}")
                    self.positions[m.partition] = m.offset + 1
                    self._last[m.partition] = m.value
                    self.read += 1
            if behind:
                for tp in list(behind):
                    if await consumer.position(tp) >= end[tp]:
                        behind.discard(tp)
                if not behind:
                    await self._caught_up()
            elif time.monotonic() - self._saved[0] >= self.snapshot_every_s:
                await self.save_snapshot()

    async def _caught_up(self) -> None:
        wall = time.perf_counter() - self._started[0]
        cpu = time.process_time() - self._started[1]
        restored = self.restored
        start = ("the beginning" if restored is None else
                 f"a snapshot of {self.restored_links} links at offsets "
                 f"{restored.offsets}")
        log.info("inventory side input caught up in %.1f s (%.1f s CPU) from %s: "
                 "%d messages read, %d events applied, %d refused; topology %s",
                 wall, cpu, start, self.read, self.side_input.applied,
                 self.side_input.refused, self.side_input.topology.size())
        if self.freeze:
            # The topology is kept for the worker's life: out of the collector's sight, a
            # full collection no longer scans its 10^5-10^6 objects (about 1 s at 1000
            # sites, so a stall of that much whenever one comes, snapshots included).
            gc.freeze()
        self.ready.set()
        await self.save_snapshot()

    async def save_snapshot(self) -> None:
        """Write the topology and the positions, if there is news since the last one.
        The state is copied here, in the loop, a part at a time (other tasks run in
        between: the positions are taken first, and what is applied meanwhile is at or
        after them); encoding and writing happen in a thread."""
        if self.snapshot_path is None or self.positions == self._saved[1]:
            self._saved = (time.monotonic(), self._saved[1])
            return
        positions = dict(self.positions)
        last = dict(self.restored.last) if self.restored is not None else {}
        last.update({p: digest(payload) for p, payload in self._last.items()})
        state: dict[str, list[list[Any]]] = {"links": [], "sites": []}
        for part in self.side_input.topology.state_parts():  # the loop runs in between
            state["links"] += part["links"]
            state["sites"] += part["sites"]
            await asyncio.sleep(0)
        snapshot = TopologySnapshot(self.topic, positions, state,
                                    {p: last[p] for p in positions if p in last})
        try:
            size = await asyncio.to_thread(write_snapshot, self.snapshot_path, snapshot)
        except OSError as exc:
            log.warning("topology snapshot %s not written: %s", self.snapshot_path, exc)
            self._saved = (time.monotonic(), self._saved[1])  # try again in a while
            return
        self._saved = (time.monotonic(), positions)
        self.snapshots_written += 1
        log.info("topology snapshot written: %s, %.1f MiB, offsets %s",
                 self.snapshot_path, size / 2**20, positions)
