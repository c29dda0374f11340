"""Worker start-up at fleet scale: the enrichment topology rebuilt from the whole
inventory topic, and from a snapshot (``fleetgraph bench startup``).

A worker follows every partition of the inventory topic and applies each payload
with :class:`~fleetgraph.ingest.kafka.sideinput.InventorySideInput` (decode, validate,
apply) before it processes anything: from the beginning, or from the offsets of the
topology snapshot it keeps (:class:`~fleetgraph.ingest.kafka.sideinput.TopologySnapshot`).
This measures both without Kafka: the inventory of ``sites`` sites with ``days`` of
churn, encoded as the topic holds it (Avro single-object), is written to a file; a
fresh process reads it back in fetches of 5,000 and applies it with the same code,
writing on the way the snapshot a follower would write a day before the end (timed
apart: the state copied a part at a time in the loop, then encoded and written); a
second fresh process restores that snapshot and applies the last day. Each reports
CPU and wall seconds, its peak RSS and the topology's size and digest (the two must
be equal). The broker's own cost (fetching and unpacking record batches) is not in
these figures.

The churn, per year (:data:`CHURN_PER_YEAR`, times ``churn``), on the simulator's
fleet (:func:`fleetgraph.simulator.build_fleet`, installed before the window):

- GPUs replaced (removed, a new one installed in the same server): 9% of GPUs;
- servers replaced with their GPUs (a tray swap): 5% of servers;
- maintenance: each server set to ``maintenance`` and back to ``ok`` twice;
- racks moved to another CDU of their site (linked, then the old one unlinked a few
  minutes later): once per rack; re-fed from another power shelf: once per two racks;
- site updates (capacity, status): monthly;
- the racks the simulator marks as added (design B sites filling up) installed at a
  random time of the window, with their site's new capacity.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fleetgraph.bench.machine import describe, peak_rss_mib
from fleetgraph.core.clock import minute_floor_us, wall_clock_us
from fleetgraph.core.units import DAY_US, MINUTE_US
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.sideinput import (
    InventorySideInput,
    TopologySnapshot,
    digest,
    read_snapshot,
    write_snapshot,
)
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator import SimulationConfig, Window, build_fleet
from fleetgraph.simulator.events import EventIds, SimEvent, inventory_event
from fleetgraph.simulator.fleet import Fleet, Rack, Server, Site
from fleetgraph.simulator.inventory import initial_inventory, rack_installation

CHURN_PER_YEAR = {
    "gpu_swaps_per_gpu": 0.09,
    "server_swaps_per_server": 0.05,
    "maintenances_per_server": 2.0,
    "cooling_moves_per_rack": 1.0,
    "power_moves_per_rack": 0.5,
    "site_updates_per_site": 12.0,
}
FOLLOW_UP_US = 6 * 60 * MINUTE_US  # an action's events span at most this
BATCH = 5_000  # records per fetch, as the follower's getmany(max_records=5000)
TOPIC = "fleetgraph.inventory"
_LENGTH = struct.Struct("<I")


# --- the inventory of a year ---------------------------------------------------------
@dataclass
class _Installed:
    """What is installed now, as the churn goes on (to pick what to replace or move)."""

    gpus: dict[str, list[str]] = field(default_factory=dict)  # server id -> GPU ids
    server_ids: list[str] = field(default_factory=list)  # a replacement takes the old one's place
    server_by_id: dict[str, Server] = field(default_factory=dict)
    servers: dict[str, list[Server]] = field(default_factory=dict)  # rack id -> servers
    cdus: dict[str, list[str]] = field(default_factory=dict)  # rack id -> cooled_by
    shelves: dict[str, list[str]] = field(default_factory=dict)  # rack id -> powered_by
    racks: list[tuple[Site, Rack]] = field(default_factory=list)
    capacity_kw: dict[str, float] = field(default_factory=dict)  # site id -> installed racks'

    def add_rack(self, site: Site, rack: Rack) -> None:
        self.racks.append((site, rack))
        self.capacity_kw[site.id] = self.capacity_kw.get(site.id, 0.0) + rack.capacity_kw
        self.servers[rack.id] = list(rack.servers)
        self.cdus[rack.id] = list(rack.cdu_ids)
        self.shelves[rack.id] = list(rack.power_shelf_ids)
        for server in rack.servers:
            self.add_server(server)

    def add_server(self, server: Server) -> None:
        self.server_ids.append(server.id)
        self.server_by_id[server.id] = server
        self.gpus[server.id] = list(server.gpu_ids)


def inventory_events(sites: int, days: float, *, churn: float = 1.0, seed: int = 7,
                     end_us: int | None = None) -> list[SimEvent]:
    """The inventory topic of a fleet with ``days`` of churn, in event-time order."""
    end = minute_floor_us(wall_clock_us()) if end_us is None else end_us
    window = Window(end - int(days * DAY_US), end)
    fleet = build_fleet(SimulationConfig(seed=seed, sites=sites, end_time_us=end))
    events = list(initial_inventory(fleet, window))
    events += _churn(fleet, window, churn, random.Random(f"{seed}:churn"))
    events.sort(key=lambda sim: sim.event_time)
    return events


def _churn(fleet: Fleet, window: Window, churn: float, rng: random.Random) -> list[SimEvent]:
    installed = _Installed()
    added: list[tuple[Site, Rack]] = []
    for site in fleet.sites:
        for rack in site.racks:
            if rack.added_in_window:
                added.append((site, rack))
            else:
                installed.add_rack(site, rack)
    years = window.length_us / (365 * DAY_US) * churn
    population = {"gpu_swaps_per_gpu": sum(len(g) for g in installed.gpus.values()),
                  "server_swaps_per_server": len(installed.gpus),
                  "maintenances_per_server": len(installed.gpus),
                  "cooling_moves_per_rack": len(installed.racks),
                  "power_moves_per_rack": len(installed.racks),
                  "site_updates_per_site": len(fleet.sites)}
    last = window.length_us - FOLLOW_UP_US  # an action's last event is within the window

    def when() -> int:
        return window.start_us + int(rng.random() * last)

    actions = [(when(), kind)
               for kind, rate in CHURN_PER_YEAR.items()
               for _ in range(round(rate * years * population[kind]))]
    actions += [(when(), f"add:{n}") for n in range(len(added))]
    actions.sort()
    churner = _Churner(installed, rng, EventIds("c"))
    for t, kind in actions:
        if kind.startswith("add:"):
            churner.add_rack(t, *added[int(kind[4:])])
        else:
            getattr(churner, kind)(t)
    return churner.events


@dataclass
class _Churner:
    installed: _Installed
    rng: random.Random
    ids: EventIds
    events: list[SimEvent] = field(default_factory=list)
    swaps: int = 0

    def _emit(self, t: int, kind: str, component: str, **fields: Any) -> None:
        self.events.append(inventory_event(self.ids(Topic.INVENTORY), t, kind, component,
                                           **fields))

    def _new_id(self, old: str) -> str:
        self.swaps += 1
        return f"{old}-x{self.swaps}"

    def gpu_swaps_per_gpu(self, t: int) -> None:
        server = self.rng.choice(self.installed.server_ids)
        gpus = self.installed.gpus[server]
        n = self.rng.randrange(len(gpus))
        old, new = gpus[n], self._new_id(gpus[n])
        gpus[n] = new
        model = self.installed.server_by_id[server].gpu_attributes()
        self._emit(t, "removed", old, parent_id=server)
        self._emit(t + 30 * MINUTE_US, "installed", new, parent_id=server, attributes=model)

    def server_swaps_per_server(self, t: int) -> None:
        site, rack = self.rng.choice(self.installed.racks)
        servers = self.installed.servers[rack.id]
        n = self.rng.randrange(len(servers))
        old = servers[n]
        new_id = self._new_id(old.id)
        new = Server(new_id, rack.id, site.id, old.generation,
                     tuple(f"gpu:{new_id[len('server:'):]}-g{k}"
                           for k in range(len(old.gpu_ids))))
        servers[n] = new
        for gpu in self.installed.gpus.pop(old.id):
            self._emit(t, "removed", gpu, parent_id=old.id)
        self._emit(t, "removed", old.id, parent_id=rack.id)
        ids = self.installed.server_ids
        ids[ids.index(old.id)] = new.id
        self.installed.server_by_id[new.id] = new
        self.installed.gpus[new.id] = list(new.gpu_ids)
        t += 2 * 60 * MINUTE_US
        self._emit(t, "installed", new.id, parent_id=rack.id, attributes=new.attributes())
        for gpu in new.gpu_ids:
            self._emit(t, "installed", gpu, parent_id=new.id, attributes=new.gpu_attributes())

    def maintenances_per_server(self, t: int) -> None:
        server = self.rng.choice(self.installed.server_ids)
        self._emit(t, "updated", server, attributes={"status": "maintenance"})
        self._emit(t + 4 * 60 * MINUTE_US, "updated", server, attributes={"status": "ok"})

    def cooling_moves_per_rack(self, t: int) -> None:
        self._move(t, "cooled_by", self.installed.cdus, lambda site: [c.id for c in site.cdus])

    def power_moves_per_rack(self, t: int) -> None:
        self._move(t, "powered_by", self.installed.shelves,
                   lambda site: [p.id for p in site.power_shelves])

    def _move(self, t: int, relation: str, links: dict[str, list[str]], of_site: Any) -> None:
        """Make before break: the rack is linked to another unit of its site, and one of
        its current ones unlinked a few minutes later (nothing if the site has no other)."""
        site, rack = self.rng.choice(self.installed.racks)
        current = links[rack.id]
        others = [u for u in of_site(site) if u not in current]
        if not others or not current:
            return
        new, old = self.rng.choice(others), self.rng.choice(current)
        current[current.index(old)] = new
        self._emit(t, "linked", rack.id, relation=relation, target_id=new)
        self._emit(t + 5 * MINUTE_US, "unlinked", rack.id, relation=relation, target_id=old)

    def site_updates_per_site(self, t: int) -> None:
        site, _ = self.rng.choice(self.installed.racks)
        capacity = self.installed.capacity_kw[site.id]
        self._emit(t, "updated", site.id, attributes={
            "capacity_kw": f"{capacity * self.rng.uniform(0.9, 1.0):.1f}",
            "status": self.rng.choice(("ok", "ok", "ok", "degraded"))})

    def add_rack(self, t: int, site: Site, rack: Rack) -> None:
        self.events.extend(rack_installation(self.ids, site, rack, t, 10_000))
        self.installed.add_rack(site, rack)
        capacity = self.installed.capacity_kw[site.id]
        self._emit(t + 5 * MINUTE_US, "updated", site.id,
                   attributes={"capacity_kw": f"{capacity:g}"})


# --- the topic as a file, and the two start-ups, each in a fresh process --------------
def write_topic(path: Path, events: list[SimEvent]) -> int:
    """The events encoded as the inventory topic holds them, length-prefixed; bytes."""
    codec = load_event_codec()
    size = 0
    with path.open("wb") as f:
        for sim in events:
            payload = codec.encode(Topic.INVENTORY, sim.event)
            f.write(_LENGTH.pack(len(payload)))
            f.write(payload)
            size += len(payload)
    return size


def open_topic(path: Path, start: int = 0) -> BinaryIO:
    """The topic file positioned at message ``start`` (a consumer's seek)."""
    f = path.open("rb")
    for _ in range(start):
        f.seek(_LENGTH.unpack(f.read(_LENGTH.size))[0], 1)
    return f


def batches(f: BinaryIO, limit: int | None = None, batch: int = BATCH
            ) -> Iterator[list[bytes]]:
    """The payloads from where ``f`` is (``limit`` of them at most), ``batch`` at a time,
    as the follower fetches them."""
    payloads: list[bytes] = []
    left = -1 if limit is None else limit
    while left != 0 and (head := f.read(_LENGTH.size)):
        payloads.append(f.read(_LENGTH.unpack(head)[0]))
        left -= 1
        if len(payloads) == batch:
            yield payloads
            payloads = []
    if payloads:
        yield payloads


CHILD = """
import json, sys
from pathlib import Path
from fleetgraph.bench import startup
step = getattr(startup, sys.argv[1])
print(json.dumps(step(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))))
"""


class _Clock:
    """CPU and wall seconds of the parts of a run."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.wall = 0.0

    def __enter__(self) -> _Clock:
        self._started = (time.process_time(), time.perf_counter())
        self._lap = self._started[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu += time.process_time() - self._started[0]
        self.wall += time.perf_counter() - self._started[1]

    def lap(self) -> float:
        """The wall time of the previous call (or of entering), for the length of a step."""
        previous, self._lap = self._lap, time.perf_counter()
        return previous

    def figures(self) -> dict[str, float]:
        return {"cpu_s": round(self.cpu, 2), "wall_s": round(self.wall, 2)}


def _apply(side_input: InventorySideInput, f: BinaryIO, offset: int, limit: int | None
           ) -> tuple[int, bytes | None]:
    """Apply the messages from ``offset`` (``limit`` of them at most); the next offset and
    the last payload applied."""
    last = None
    for payloads in batches(f, limit):
        for payload in payloads:
            side_input.apply(payload, f"inventory/0/{offset}")
            offset += 1
        last = payloads[-1]
    return offset, last


def _side_input() -> InventorySideInput:
    return InventorySideInput(load_event_codec(), Validator(FLEET), Topology())


def _digest(topology: Topology) -> str:
    return hashlib.sha256("\n".join(sorted(topology.facts())).encode()).hexdigest()[:16]


def rebuild(topic: Path, snapshot: Path, cut: int) -> dict[str, Any]:
    """A worker's start-up today: every message from the beginning. On the way, at
    message ``cut``, the snapshot a follower would write then (timed apart)."""
    side_input = _side_input()
    before = peak_rss_mib()
    replay, copying, writing = _Clock(), _Clock(), _Clock()
    with open_topic(topic) as f:
        with replay:
            offset, last = _apply(side_input, f, 0, cut)
            gc.freeze()  # as the follower does once caught up
        state: dict[str, list[list[Any]]] = {"links": [], "sites": []}
        longest = 0.0
        with copying:  # in the follower's loop, a part at a time
            for part in side_input.topology.state_parts():
                state["links"] += part["links"]
                state["sites"] += part["sites"]
                longest = max(longest, time.perf_counter() - copying.lap())
        with writing:  # in a thread
            size = write_snapshot(snapshot, TopologySnapshot(
                TOPIC, {0: offset}, state, {0: digest(last)} if offset else {}))
        del state
        with replay:
            end, _ = _apply(side_input, f, offset, None)
    peak = peak_rss_mib()
    facts, embedded = list(side_input.topology.facts()), _Clock()
    with embedded:  # what the embedded runner's ingest --append starts with
        Topology().load(facts)
    return {"messages": end, "applied": side_input.applied, "refused": side_input.refused,
            **replay.figures(), "us_per_message": round(replay.cpu / max(1, end) * 1e6, 1),
            "peak_rss_mib": round(peak, 1), "rss_before_mib": round(before, 1),
            "topology": side_input.topology.size(), "digest": _digest(side_input.topology),
            "snapshot": {"at_message": offset, "mib": round(size / 2**20, 1),
                         "state_copy": {**copying.figures(),
                                        "longest_part_ms": round(longest * 1000, 1)},
                         "encode_and_write": writing.figures()},
            "embedded_facts_load": {"facts": len(facts), **embedded.figures()}}


def restart(topic: Path, snapshot: Path, cut: int) -> dict[str, Any]:
    """A worker's start-up from the snapshot: read and restore it, then the messages
    after its offset."""
    side_input = _side_input()
    before = peak_rss_mib()
    load, tail = _Clock(), _Clock()
    with load:
        saved = read_snapshot(snapshot, TOPIC)
        assert saved is not None and saved.offsets == {0: cut}
        side_input.topology.restore(saved.state)
    del saved
    with open_topic(topic, cut) as f, tail:
        end, _ = _apply(side_input, f, cut, None)
        gc.freeze()
    return {"messages": end - cut, "applied": side_input.applied,
            "refused": side_input.refused, "cpu_s": round(load.cpu + tail.cpu, 2),
            "wall_s": round(load.wall + tail.wall, 2), "snapshot_load": load.figures(),
            "tail": tail.figures(), "peak_rss_mib": round(peak_rss_mib(), 1),
            "rss_before_mib": round(before, 1), "topology": side_input.topology.size(),
            "digest": _digest(side_input.topology)}


def _child(step: str, topic: Path, snapshot: Path, cut: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD, step, str(topic), str(snapshot),
                          str(cut)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the {step} process failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(sites: int, days: float, churn: float = 1.0, seed: int = 7) -> dict[str, Any]:
    """Generate the topic; rebuild from all of it, and restart from the snapshot taken a
    day before its end, each in a fresh process; the figures."""
    events = inventory_events(sites, days, churn=churn, seed=seed)
    kinds: dict[str, int] = {}
    for sim in events:
        kinds[sim.event["kind"]] = kinds.get(sim.event["kind"], 0) + 1
    day_before_end = events[-1].event_time - DAY_US
    cut = sum(sim.event_time < day_before_end for sim in events)
    with tempfile.TemporaryDirectory() as tmp:
        topic, snapshot = Path(tmp) / "inventory.bin", Path(tmp) / "topology.json"
        size = write_topic(topic, events)
        whole = _child("rebuild", topic, snapshot, cut)
        restarted = _child("restart", topic, snapshot, cut)
    return {"sites": sites, "days": days, "churn": churn, "seed": seed,
            "churn_per_year": CHURN_PER_YEAR, "topic_messages": len(events),
            "topic_mib": round(size / 2**20, 1), "events_by_kind": kinds,
            "rebuild_from_the_beginning": whole, "start_from_snapshot": restarted,
            "identical_topology": whole["digest"] == restarted["digest"],
            "machine": describe()}
