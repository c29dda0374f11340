"""The fleet simulator: determinism, the event contract (docs/events.md), staged incidents,
noise and malformed messages."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET, parse_id
from fleetgraph.graph_model.ids import node_type_of
from fleetgraph.schemas import SchemaError, Topic, load_event_codec
from fleetgraph.simulator import (
    DEFECTS,
    SimEvent,
    SimulationConfig,
    Timeline,
    build_fleet,
    estimate_events,
    simulate,
    simulate_messages,
    window_of,
)

END = 1_795_000_000_000_000  # a fixed end of window: 2026-11-18T08:26:40Z
INF = 2**62
CONFIG = SimulationConfig(seed=11, sites=12, hours=12.0, end_time_us=END)
SMALL = SimulationConfig(seed=5, sites=4, hours=4.0, end_time_us=END, malformed_rate=0.05)
READING_METRICS = {
    "cdu": {"supply_temp_c": (30.0, 70.0), "flow_lpm": (0.0, 5000.0)},
    "power_shelf": {"output_kw": (0.0, 300.0)},
    "gpu": {"temperature_c": (20.0, 100.0), "power_w": (0.0, 1500.0),
            "utilization": (0.0, 1.0)},
}
CONTAINER_EDGE = {"site": "in_site", "rack": "in_rack", "server": "in_server"}


@pytest.fixture(scope="module")
def codec() -> Any:
    return load_event_codec()


@pytest.fixture(scope="module")
def arrivals() -> list[SimEvent]:
    return list(simulate(CONFIG))


@pytest.fixture(scope="module")
def clean(arrivals: list[SimEvent]) -> list[SimEvent]:
    """First deliveries only, in event-time order."""
    seen: set[str] = set()
    first = []
    for sim in arrivals:
        if sim.event_id not in seen:
            seen.add(sim.event_id)
            first.append(sim)
    return sorted(first, key=lambda s: s.event_time)


@pytest.fixture(scope="module")
def history(clean: list[SimEvent]) -> History:
    return History.of(clean)


# --- an independent reading of the events: intervals and the affectedJobs query -------


def _open(intervals: dict[Any, list[list[int]]], key: Any, t: int) -> None:
    intervals[key].append([t, INF])


def _close(intervals: dict[Any, list[list[int]]], key: Any, t: int) -> None:
    assert intervals[key] and intervals[key][-1][1] == INF, f"closing {key} never opened"
    intervals[key][-1][1] = t


@dataclass
class History:
    cooled_by: dict[tuple[str, str], list[list[int]]] = field(
        default_factory=lambda: defaultdict(list))
    in_rack: dict[tuple[str, str], list[list[int]]] = field(
        default_factory=lambda: defaultdict(list))
    ran_on: dict[tuple[str, str], list[list[int]]] = field(
        default_factory=lambda: defaultdict(list))
    allocated: dict[tuple[str, str], list[list[int]]] = field(
        default_factory=lambda: defaultdict(list))
    faults: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # id -> comp, from, to
    fault_status: dict[str, str] = field(default_factory=dict)  # id -> fault or degraded
    jobs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))

    @classmethod
    def of(cls, events: list[SimEvent]) -> History:
        h = cls()
        for sim in events:
            e, t = sim.event, sim.event_time
            if sim.topic is Topic.INVENTORY:
                h._inventory(e, t)
            elif sim.topic is Topic.TELEMETRY and e["kind"] == "status" and e["fault_id"]:
                if e["status"] in ("fault", "degraded"):
                    h.faults[e["fault_id"]] = (e["component_id"], t, INF)
                    h.fault_status[e["fault_id"]] = e["status"]
                elif e["status"] == "ok":
                    component, start, _ = h.faults[e["fault_id"]]
                    h.faults[e["fault_id"]] = (component, start, t)
            elif sim.topic is Topic.JOBS:
                h._job(e, t)
        return h

    def _inventory(self, e: dict[str, Any], t: int) -> None:
        if e["kind"] == "installed" and e["component_id"].startswith("server:"):
            _open(self.in_rack, (e["component_id"], e["parent_id"]), t)
        elif e["kind"] == "removed":
            _close(self.in_rack, (e["component_id"], e["parent_id"]), t)
        elif e["relation"] == "cooled_by":
            key = (e["component_id"], e["target_id"])
            (_open if e["kind"] == "linked" else _close)(self.cooled_by, key, t)

    def _job(self, e: dict[str, Any], t: int) -> None:
        self.jobs[e["job_id"]][e["kind"]] = e
        for p in e["placement"]:
            keys = [(self.ran_on, p["server_id"])] + [(self.allocated, g) for g in p["gpu_ids"]]
            for intervals, target in keys:
                if e["kind"] == "started":
                    _open(intervals, (e["job_id"], target), t)
                else:
                    _close(intervals, (e["job_id"], target), t)

    def cdus_cooling(self, rack: str, t: int) -> set[str]:
        return {cdu for (r, cdu), links in self.cooled_by.items()
                if r == rack and any(lo <= t < hi for lo, hi in links)}

    def in_fault(self, component: str, t: int) -> bool:
        return any(c == component and lo <= t < hi and self.fault_status[f] == "fault"
                   for f, (c, lo, hi) in self.faults.items())

    def affected_jobs(self, cdu_id: str, *, ignore_link_intervals: bool = False
                      ) -> set[tuple[str, str]]:
        """docs/queries.md affectedJobs for a CDU: (job, fault id) pairs."""
        found = set()
        for fault_id, (component, f_lo, f_hi) in self.faults.items():
            if component != cdu_id:
                continue
            for (rack, cdu), links in self.cooled_by.items():
                for l_lo, l_hi in links if cdu == cdu_id else ():
                    lo, hi = (f_lo, f_hi) if ignore_link_intervals else (
                        max(f_lo, l_lo), min(f_hi, l_hi))
                    for (server, rack_of), homes in self.in_rack.items():
                        for h_lo, h_hi in homes if rack_of == rack else ():
                            s_lo, s_hi = max(lo, h_lo), min(hi, h_hi)
                            for (job, on), runs in self.ran_on.items():
                                if on == server and s_lo < s_hi and any(
                                        r_lo < s_hi and s_lo < r_hi for r_lo, r_hi in runs):
                                    found.add((job, fault_id))
        return found


# --- determinism ------------------------------------------------------------------------


def test_same_config_gives_byte_identical_messages(codec: Any) -> None:
    first = list(simulate_messages(SMALL, codec))
    again = list(simulate_messages(SMALL, codec))
    assert first == again
    other = list(simulate_messages(SimulationConfig(**{**SMALL.__dict__, "seed": 6}), codec))
    assert other != first


def test_open_end_is_now_rounded_down_to_the_minute() -> None:
    window = window_of(SimulationConfig(hours=2.0))
    assert window.end_us % 60_000_000 == 0
    assert 0 <= time.time() * 1e6 - window.end_us < 61e6
    assert window.length_us == 2 * 3600 * 10**6


def test_the_layout_is_deterministic_and_sized_like_the_design() -> None:
    fleet = build_fleet(CONFIG)
    assert fleet == build_fleet(CONFIG)
    assert {s.design for s in fleet.sites} == {"A", "B"}
    for site in fleet.sites:
        assert site.capacity_kw(with_added=True) <= 1500
        if site.design == "A":
            assert len(site.racks) == 1 and 1 <= len(site.cdus) <= 2
        else:
            assert 2 <= len(site.racks) <= 6
            assert all(250 <= r.capacity_kw <= 500 for r in site.racks)
        assert all(p.capacity_kw < 300 for p in site.power_shelves)
        for rack in site.racks:
            assert rack.cdu_ids and len(rack.power_shelf_ids) >= 2
            assert 4 <= len(rack.servers) <= 18
    assert 8 <= len(fleet.models) <= 20


# --- the event contract ------------------------------------------------------------------


def test_every_event_encodes_and_decodes_unchanged(clean: list[SimEvent], codec: Any) -> None:
    for sim in clean:
        record, decoded = codec.decode(codec.encode(sim.topic, sim.event))
        assert codec.topic_of(record) is sim.topic
        assert decoded == sim.event


def _ids_of(sim: SimEvent) -> Iterator[str]:
    e = sim.event
    for name in ("component_id", "parent_id", "target_id", "site_id", "job_id",
                 "application_id", "user_id", "model_id", "artifact_id"):
        if e.get(name):
            yield e[name]
    yield from e.get("inputs", [])
    yield from e.get("outputs", [])
    yield from e.get("derived_from", [])
    for p in e.get("placement", []):
        yield p["server_id"]
        yield from p["gpu_ids"]
    if e.get("fault_id"):
        yield f"fault:{e['fault_id']}"


def test_ids_parse_and_name_declared_node_types(clean: list[SimEvent]) -> None:
    types: Counter[str] = Counter()
    for sim in clean:
        for node_id in _ids_of(sim):
            node_type, _ = parse_id(node_id)
            assert node_type in FLEET.nodes, node_id
            types[node_type] += 1
    assert set(types) == set(FLEET.nodes)  # every node type shows up


def _inventory_problem(e: dict[str, Any]) -> str | None:
    kind, component = e["kind"], e["component_id"]
    node_type = FLEET.node(node_type_of(component))
    if not set(e["attributes"]) <= set(node_type.prop_names):
        return "attributes are not properties of the node type"
    if kind in ("installed", "removed"):
        if e["parent_id"] is None:
            return None if component.startswith("site:") else "no parent"
        parent_type = node_type_of(e["parent_id"])
        edge = "attached_to" if component.startswith("instrument:") else CONTAINER_EDGE[
            parent_type]
        edge_type = FLEET.edge(edge)
        if node_type.name not in edge_type.from_types or parent_type not in edge_type.to_types:
            return f"no {edge} edge from {component} to {e['parent_id']}"
        if kind == "installed" and not e["attributes"]:
            return "installed without attributes"
    elif kind in ("linked", "unlinked"):
        edge_type = FLEET.edge(e["relation"])
        if e["relation"] not in ("cooled_by", "powered_by"):
            return "unknown relation"
        if (node_type.name not in edge_type.from_types
                or node_type_of(e["target_id"]) not in edge_type.to_types):
            return "link between the wrong types"
    elif kind == "updated" and not e["attributes"]:
        return "an update of nothing"
    return None


def _telemetry_problem(e: dict[str, Any], t: int) -> str | None:
    kind, component = e["kind"], e["component_id"]
    component_type = node_type_of(component)
    if kind == "reading":
        low, high = READING_METRICS[component_type][e["metric"]]
        return None if low <= e["value"] <= high else f"{e['metric']}={e['value']}"
    if kind == "status":
        if e["status"] not in ("ok", "degraded", "fault", "maintenance"):
            return "unknown status"
        stamp = datetime.fromtimestamp(t // 10**6, UTC).strftime("%Y%m%dT%H%M%SZ")
        if e["status"] != "ok" and e["fault_id"] != f"{component}@{stamp}":
            return "fault id is not <component>@<UTC start>"
        return None if e["fault_code"] and e["severity"] else "fault without code or severity"
    if kind == "site_energy":
        values = [e[k] for k in ("power_headroom_kw", "thermal_headroom_kw", "battery_soc",
                                 "solar_kw")]
        if component_type != "site" or None in values:
            return "site_energy needs a site and all four values"
        return None if 0 <= e["battery_soc"] <= 1 and e["solar_kw"] >= 0 else "bad energy"
    return None if kind == "heartbeat" else "unknown kind"


def _job_problem(e: dict[str, Any], submitted: dict[str, Any] | None) -> str | None:
    kind = e["kind"]
    if kind == "submitted":
        if e["job_kind"] not in ("training", "inference", "batch_inference", "agentic"):
            return "unknown job kind"
        if not (e["application_id"] and e["user_id"] and e["model_id"]
                and e["gpus_requested"] and e["gpus_requested"] >= 1):
            return "submitted without application, user, model or GPUs"
        return None
    if submitted is None:
        return f"{kind} before submitted"
    gpus = sum(len(p["gpu_ids"]) for p in e["placement"])
    if kind == "cancelled":
        return None if gpus == 0 and e["exit_reason"] else "cancelled with a placement"
    if gpus != submitted["gpus_requested"]:
        return f"placement of {gpus} GPUs for {submitted['gpus_requested']} requested"
    for p in e["placement"]:
        local = p["server_id"].removeprefix("server:")
        if not all(g.removeprefix("gpu:").startswith(local + "-g") for g in p["gpu_ids"]):
            return "GPU not in its server"
    sites = {p["server_id"].split(":")[1].split("-")[0] for p in e["placement"]}
    if len(sites) != 1:
        return "a job spread over sites"
    return None if kind == "started" or e["exit_reason"] else "ended without a reason"


def _artifact_problem(e: dict[str, Any]) -> str | None:
    kind = e["kind"]
    if kind == "registered":
        if not e["artifact_kind"]:
            return "registered without artifact_kind"
        if e["artifact_kind"] in ("weights", "checkpoint") and not e["model_id"]:
            return "weights without model"
        item = FLEET.node(node_type_of(e["artifact_id"]))
        return None if set(e["attributes"]) <= set(item.prop_names) else "unknown attributes"
    if not e["site_id"]:
        return f"{kind} without site"
    if kind == "replicated" and e["tier"] not in (0, 1, 2):
        return "replicated without tier"
    if kind == "accessed" and (e["hits"] is None or e["hits"] < 1):
        return "accessed without hits"
    return None


def test_events_have_the_shapes_of_docs_events_md(clean: list[SimEvent]) -> None:
    submitted: dict[str, dict[str, Any]] = {}
    started: dict[str, list[Any]] = {}
    kinds: Counter[tuple[Topic, str]] = Counter()
    for sim in clean:
        e = sim.event
        kinds[(sim.topic, e["kind"])] += 1
        if sim.topic is Topic.INVENTORY:
            problem = _inventory_problem(e)
        elif sim.topic is Topic.TELEMETRY:
            problem = _telemetry_problem(e, sim.event_time)
        elif sim.topic is Topic.JOBS:
            problem = _job_problem(e, submitted.get(e["job_id"]))
            if e["kind"] == "submitted":
                submitted[e["job_id"]] = e
            elif e["kind"] == "started":
                started[e["job_id"]] = e["placement"]
            elif e["kind"] != "cancelled" and started.get(e["job_id"]) != e["placement"]:
                problem = "ended with another placement than it started with"
        else:
            problem = _artifact_problem(e)
        assert problem is None, (problem, e)
    expected = {
        (Topic.INVENTORY, k) for k in ("installed", "linked", "unlinked", "removed", "updated")
    } | {(Topic.TELEMETRY, k) for k in ("reading", "status", "site_energy", "heartbeat")} | {
        (Topic.JOBS, k) for k in ("submitted", "started", "finished", "failed", "cancelled")
    } | {(Topic.ARTIFACTS, k) for k in ("registered", "replicated", "accessed", "evicted")}
    assert set(kinds) == expected


def test_event_ids_are_unique_and_timed_in_the_window(clean: list[SimEvent]) -> None:
    window = window_of(CONFIG)
    assert len({s.event_id for s in clean}) == len(clean)
    assert all(window.start_us - 3 * 3600 * 10**6 <= s.event_time < window.end_us
               for s in clean)


def _writes(sim: SimEvent) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(node or edge, property) -> value that an event sets, per docs/events.md."""
    e, kind = sim.event, sim.event["kind"]
    if sim.topic is Topic.TELEMETRY:
        c = e["component_id"]
        if kind == "reading":
            yield (c, e["metric"]), e["value"]
        elif kind == "status":
            yield (c, "status"), e["status"]
        elif kind == "site_energy":
            for name in ("power_headroom_kw", "thermal_headroom_kw", "battery_soc", "solar_kw"):
                yield (c, name), e[name]
    elif sim.topic is Topic.INVENTORY:
        for name, value in e["attributes"].items():
            yield (e["component_id"], name), value
        if kind in ("installed", "removed"):
            yield (e["component_id"], "status"), "ok" if kind == "installed" else "removed"
        if kind in ("linked", "unlinked"):
            yield (e["component_id"], e["relation"], e["target_id"]), kind
    elif sim.topic is Topic.JOBS:
        yield (e["job_id"], "status"), kind
    elif kind != "registered":
        yield (e["artifact_id"], e["site_id"], "cached_at"), (kind, e["tier"], e["hits"])


def test_no_two_events_set_a_property_at_the_same_time_differently(
        clean: list[SimEvent]) -> None:
    seen: dict[tuple[Any, ...], Any] = {}
    for sim in clean:
        for key, value in _writes(sim):
            previous = seen.setdefault((*key, sim.event_time), value)
            assert previous == value, (key, sim.event_time, previous, value)


# --- intervals: one per pair, never reopened ----------------------------------------------


def test_links_and_replicas_open_once(clean: list[SimEvent], history: History) -> None:
    assert all(len(v) == 1 for v in history.cooled_by.values())
    replicas: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sim in clean:
        if sim.topic is Topic.ARTIFACTS and sim.event["kind"] != "registered":
            replicas[(sim.event["artifact_id"], sim.event["site_id"])].append(sim.event["kind"])
    hits: dict[tuple[str, str], list[int]] = defaultdict(list)
    for sim in clean:
        if sim.topic is Topic.ARTIFACTS and sim.event["kind"] == "accessed":
            hits[(sim.event["artifact_id"], sim.event["site_id"])].append(sim.event["hits"])
    for key, kinds in replicas.items():
        assert kinds[0] == "replicated" and kinds.count("replicated") == 1, key
        assert "evicted" not in kinds[:-1], key  # nothing after an eviction
    assert all(h == sorted(set(h)) for h in hits.values())  # cumulative, increasing
    assert any(k[-1] == "evicted" for k in replicas.values())


# --- staged incidents ------------------------------------------------------------------------


def test_cdu_faults_overlap_jobs_on_racks_they_cool(history: History) -> None:
    cdus = {c for c, _, _ in history.faults.values() if c.startswith("cdu:")}
    affected = {fault for cdu in cdus for _, fault in history.affected_jobs(cdu)}
    assert len(affected) >= 3


def test_a_rack_moved_away_before_a_fault_does_not_count(history: History) -> None:
    moved = [(rack, cdu, links[0][1]) for (rack, cdu), links in history.cooled_by.items()
             if links[0][1] != INF]
    assert moved
    cases = 0
    for rack, cdu, unlinked in moved:
        naive = history.affected_jobs(cdu, ignore_link_intervals=True)
        right = history.affected_jobs(cdu)
        for job, fault in naive - right:
            _, start, _ = history.faults[fault]
            servers = {p["server_id"] for p in history.jobs[job]["started"]["placement"]}
            if start > unlinked and any(s.startswith(f"server:{rack[5:]}-") for s in servers):
                cases += 1
    assert cases >= 1


def test_only_jobs_left_without_cooling_fail_of_it(history: History) -> None:
    failed = 0
    for job, stages in history.jobs.items():
        if stages.get("failed", {}).get("exit_reason") != "cooling_fault":
            continue
        began, end = stages["started"]["event_time"], stages["failed"]["event_time"]
        racks = {p["server_id"].removeprefix("server:").rsplit("-", 1)[0]
                 for p in stages["started"]["placement"]}
        causes = [  # the rack's every CDU failed, and the job a few minutes later
            start for f, (cdu, start, _) in history.faults.items()
            if history.fault_status[f] == "fault"
            and start <= end <= max(start, began) + 10 * 60 * 10**6
            for rack in racks
            if cdu in history.cdus_cooling(f"rack:{rack}", start)
            and all(history.in_fault(c, start) for c in history.cdus_cooling(f"rack:{rack}", start))
        ]
        assert causes, job
        failed += 1
    assert failed >= 1


def test_faults_of_cdus_and_power_shelves_some_still_open(history: History) -> None:
    kinds = Counter(node_type_of(c) for c, _, _ in history.faults.values())
    assert kinds["cdu"] >= 3 and kinds["power_shelf"] >= 1
    assert any(end == INF for _, _, end in history.faults.values())
    assert any(end != INF for _, _, end in history.faults.values())


def test_no_gpu_is_booked_twice_at_once(history: History) -> None:
    by_gpu: dict[str, list[list[int]]] = defaultdict(list)
    for (_, gpu), intervals in history.allocated.items():
        by_gpu[gpu] += intervals
    assert len(by_gpu) > 100
    for gpu, intervals in by_gpu.items():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert end <= start, gpu


def test_jobs_run_in_order_and_some_still_run_at_the_end(history: History) -> None:
    running = 0
    for job, stages in history.jobs.items():
        times = [stages[k]["event_time"] for k in
                 ("submitted", "started", "finished", "failed", "cancelled") if k in stages]
        assert times == sorted(times) and len(set(times)) == len(times), job
        running += "started" in stages and len(stages) == 2
    assert running > 0


def test_no_job_runs_on_a_removed_server(history: History) -> None:
    removed = {server: homes[0][1] for (server, _), homes in history.in_rack.items()
               if homes[0][1] != INF}
    assert removed
    for (_, server), runs in history.ran_on.items():
        assert all(hi <= removed.get(server, INF) for _, hi in runs)


# --- noise ---------------------------------------------------------------------------------------


def test_duplicates_keep_their_id_and_content(arrivals: list[SimEvent]) -> None:
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sim in arrivals:
        by_id[sim.event_id].append(sim.event)
    repeated = [copies for copies in by_id.values() if len(copies) > 1]
    assert 0.01 < len(repeated) / len(by_id) < 0.03
    for copies in repeated:
        assert all(c == copies[0] and c is not copies[0] for c in copies[1:])


def test_late_arrivals_stay_within_the_reorder_delay(arrivals: list[SimEvent]) -> None:
    seen: set[str] = set()
    latest = -INF
    late = 0
    for sim in arrivals:
        if sim.event_id not in seen:
            lateness = latest - sim.event_time
            assert lateness <= CONFIG.reorder_max_delay_s * 10**6
            late += lateness > 0
            seen.add(sim.event_id)
        latest = max(latest, sim.event_time)
    assert late > 0.01 * len(seen)


def test_heartbeats_are_mixed_in(arrivals: list[SimEvent]) -> None:
    beats = sum(s.event["kind"] == "heartbeat" for s in arrivals if s.topic is Topic.TELEMETRY)
    assert 0.02 < beats / len(arrivals) < 0.04


def test_estimate_is_close(arrivals: list[SimEvent]) -> None:
    assert abs(estimate_events(CONFIG) - len(arrivals)) < 0.01 * len(arrivals)
    assert Timeline.plan(CONFIG).clean_count() == len(
        {s.event_id for s in arrivals if s.event["kind"] != "heartbeat"})


def test_a_default_day_stays_a_few_hundred_thousand_events() -> None:
    count = Timeline.plan(SimulationConfig(end_time_us=END)).clean_count()
    assert 100_000 < count < 400_000


# --- malformed messages -------------------------------------------------------------------------


def _content_defect(event: dict[str, Any]) -> set[str]:
    found = set()
    if any(isinstance(v, str) and len(v) >= 100_000 for v in event["attributes"].values()
           ) if "attributes" in event else False:
        found.add("oversized_string")
    for name in ("component_id", "job_id", "artifact_id"):
        if name in event and node_type_of(event[name]) not in FLEET.nodes:
            found.add("unknown_id_type")
    if event["event_time"] > END + 40 * 365 * 86_400 * 10**6:
        found.add("far_future")
    if event.get("metric") == "supply_temp_c" and event["value"] > 200:
        found.add("out_of_range")
    return found


def test_malformed_messages_are_what_their_label_says(codec: Any) -> None:
    messages = list(simulate_messages(SMALL, codec))
    defects = Counter(defect for _, _, defect in messages if defect)
    assert set(defects) == set(DEFECTS)
    assert 0.03 < sum(defects.values()) / len(messages) < 0.07
    for topic, payload, defect in messages:
        if defect in ("truncated", "unknown_fingerprint", "missing_field", "wrong_type"):
            with pytest.raises(SchemaError):
                codec.decode(payload)
            continue
        record, event = codec.decode(payload)
        assert codec.topic_of(record) is topic
        if defect is None:
            assert not _content_defect(event)
        else:
            assert _content_defect(event) == {defect}
