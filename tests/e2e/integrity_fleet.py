"""A one-rack site written as events, with the dangling references and impossible
sequences of issue 8 item 9 to add on request (shared by the integrity tests).

    site:s1   cdu:s1-c1 (in_site), rack:s1-r1 (in_site) cooled_by cdu:s1-c1 only
              server:s1-r1-n1 (in_rack), gpu:s1-r1-n1-g0 (in_server)
    job:j1    submitted, started, finished in order on the server (clean)

``PHANTOM_LINK``: rack:s1-r1 linked cooled_by cdu:s1-c9, which is never installed.
``BACKWARDS_JOB``: job:j2 submitted at +1h, finished at +2h, started at +3h.
``ODDITIES``: a reading from gpu:s1-r1-n1-g7 (never installed), an unlink of a link
that never was, and server:s1-r1-n2 removed (+4h) before it was installed (+5h).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fleetgraph.ingest.message import Message
from fleetgraph.schemas import load_event_codec
from tests.e2e.fleet_run import END_US

H = 3_600_000_000
T0 = END_US - 12 * H
RACK, CDU, PHANTOM = "rack:s1-r1", "cdu:s1-c1", "cdu:s1-c9"
SERVER, GPU = "server:s1-r1-n1", "gpu:s1-r1-n1-g0"
Event = tuple[str, dict[str, Any]]


def inventory(event_id: str, t: int, kind: str, component: str, **fields: Any) -> Event:
    return "inventory", {
        "event_id": event_id, "event_time": t, "kind": kind, "component_id": component,
        "parent_id": fields.get("parent"), "relation": fields.get("relation"),
        "target_id": fields.get("target"), "attributes": fields.get("attributes", {}),
    }


def job(event_id: str, t: int, kind: str, job_id: str, placed: bool = True) -> Event:
    return "jobs", {
        "event_id": event_id, "event_time": t, "kind": kind, "job_id": job_id,
        "application_id": "application:a1", "user_id": "user:u1", "job_kind": "training",
        "gpus_requested": 1, "model_id": None, "inputs": [], "outputs": [],
        "placement": [{"server_id": SERVER, "gpu_ids": [GPU]}] if placed else [],
        "exit_reason": None,
    }


def reading(event_id: str, t: int, component: str, metric: str, value: float) -> Event:
    return "telemetry", {
        "event_id": event_id, "event_time": t, "kind": "reading", "component_id": component,
        "site_id": "site:s1", "metric": metric, "value": value, "status": None,
        "fault_id": None, "fault_code": None, "severity": None, "power_headroom_kw": None,
        "thermal_headroom_kw": None, "battery_soc": None, "solar_kw": None,
    }


BASE: list[Event] = [
    inventory("inv-site", T0, "installed", "site:s1",
              attributes={"name": "one", "region": "west"}),
    inventory("inv-cdu", T0 + 1, "installed", CDU, parent="site:s1",
              attributes={"capacity_kw": "500"}),
    inventory("inv-rack", T0 + 2, "installed", RACK, parent="site:s1",
              attributes={"capacity_kw": "250"}),
    inventory("inv-server", T0 + 3, "installed", SERVER, parent=RACK),
    inventory("inv-gpu", T0 + 4, "installed", GPU, parent=SERVER),
    inventory("link-c1", T0 + 5, "linked", RACK, relation="cooled_by", target=CDU),
    reading("tel-c1", T0 + H, CDU, "supply_temp_c", 31.0),
    job("job-j1-sub", T0 + H, "submitted", "job:j1", placed=False),
    job("job-j1-start", T0 + 2 * H, "started", "job:j1"),
    job("job-j1-end", T0 + 3 * H, "finished", "job:j1"),
]
PHANTOM_LINK: list[Event] = [
    inventory("link-c9", T0 + 6, "linked", RACK, relation="cooled_by", target=PHANTOM),
]
BACKWARDS_JOB: list[Event] = [
    job("job-j2-sub", T0 + H, "submitted", "job:j2", placed=False),
    job("job-j2-end", T0 + 2 * H, "finished", "job:j2"),
    job("job-j2-start", T0 + 3 * H, "started", "job:j2"),
]
ODDITIES: list[Event] = [
    reading("tel-g7", T0 + H, "gpu:s1-r1-n1-g7", "temperature_c", 60.0),
    inventory("unlink-c1", T0 + 2 * H, "unlinked", "rack:s1-r2", relation="cooled_by",
              target=CDU),
    inventory("rm-n2", T0 + 4 * H, "removed", "server:s1-r1-n2", parent=RACK),
    inventory("inv-n2", T0 + 5 * H, "installed", "server:s1-r1-n2", parent=RACK),
]


def messages(events: Iterable[Event]) -> list[Message]:
    """The events encoded as the source topics carry them, numbered as in a file."""
    codec = load_event_codec()
    return [Message(topic, codec.encode(topic, event), f"file:{n}")
            for n, (topic, event) in enumerate(events)]

