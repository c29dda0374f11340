"""Faults of CDUs and power shelves: when each one is faulted or degraded, and its events.

A fault is reported by two ``status`` events (its start, and ``ok`` at its end
if that is in the window) with a fault id that names the component and the
second it started. The staged CDU faults are in :mod:`fleetgraph.simulator.incidents`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator.config import MINUTE_US, SECOND_US, SimulationConfig, Window
from fleetgraph.simulator.draws import log_uniform, poisson
from fleetgraph.simulator.events import EventIds, SimEvent, telemetry_event
from fleetgraph.simulator.fleet import Cdu, Fleet, PowerShelf

CDU_FAULT_CODES = ("pump_failure", "leak_detected", "valve_stuck")
CDU_DEGRADED_CODES = ("high_supply_temp", "low_flow", "filter_clogged")
SHELF_FAULT_CODES = ("rectifier_failure", "overcurrent_trip")
SHELF_DEGRADED_CODES = ("overtemperature", "fan_failure", "input_undervoltage")


def utc_stamp(t_us: int) -> str:
    """``20261121T100000Z``: the UTC second of a time, as fault ids spell it."""
    return datetime.fromtimestamp(t_us // SECOND_US, UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(slots=True)
class Fault:
    component_id: str
    site_id: str
    status: str  # fault or degraded
    code: str
    severity: str
    start_us: int
    end_us: int  # INF: still open at the end of the window

    @property
    def fault_id(self) -> str:
        return f"{self.component_id}@{utc_stamp(self.start_us)}"


class FaultBook:
    """Faults per component; a component's faults never overlap."""

    MARGIN_US = 10 * MINUTE_US

    def __init__(self) -> None:
        self.by_component: dict[str, list[Fault]] = {}

    def is_free(self, component_id: str, start: int, end: int) -> bool:
        return all(
            end + self.MARGIN_US <= f.start_us or f.end_us + self.MARGIN_US <= start
            for f in self.by_component.get(component_id, ())
        )

    def add(self, fault: Fault) -> None:
        self.by_component.setdefault(fault.component_id, []).append(fault)

    def fault_at(self, component_id: str, t: int) -> Fault | None:
        for f in self.by_component.get(component_id, ()):
            if f.start_us <= t < f.end_us:
                return f
        return None

    def status_at(self, component_id: str, t: int) -> str | None:
        fault = self.fault_at(component_id, t)
        return None if fault is None else fault.status

    def all(self) -> list[Fault]:
        return sorted((f for fs in self.by_component.values() for f in fs),
                      key=lambda f: (f.start_us, f.component_id))


def add_random_faults(book: FaultBook, fleet: Fleet, config: SimulationConfig, window: Window,
                      rng: random.Random) -> None:
    """Faults of any CDU or power shelf at the configured rates, where the book has room."""
    days = config.hours / 24
    plans: list[tuple[list[Cdu | PowerShelf], float, tuple[str, ...], tuple[str, ...]]] = [
        ([*fleet.cdus()], config.cdu_fault_rate, CDU_FAULT_CODES, CDU_DEGRADED_CODES),
        ([*fleet.power_shelves()], config.power_shelf_fault_rate,
         SHELF_FAULT_CODES, SHELF_DEGRADED_CODES),
    ]
    for components, rate, fault_codes, degraded_codes in plans:
        for _ in range(poisson(rng, len(components) * rate * days)):
            component = rng.choice(components)
            start = window.at(rng.random())
            end = start + int(log_uniform(rng, 5, 480) * MINUTE_US)
            if not book.is_free(component.id, start, end):
                continue
            if rng.random() < 0.6:
                status, code, severity = "fault", rng.choice(fault_codes), "critical"
            else:
                status, code = "degraded", rng.choice(degraded_codes)
                severity = rng.choice(("major", "minor"))
            book.add(Fault(component.id, component.site_id, status, code, severity, start, end))


def fault_events(book: FaultBook, ids: EventIds, end_us: int) -> list[SimEvent]:
    """Each fault's start, and its end when that is before ``end_us``."""
    events = []
    for f in book.all():
        events.append(telemetry_event(
            ids(Topic.TELEMETRY), f.start_us, "status", f.component_id, f.site_id,
            status=f.status, fault_id=f.fault_id, fault_code=f.code, severity=f.severity))
        if f.end_us < end_us:
            events.append(telemetry_event(
                ids(Topic.TELEMETRY), f.end_us, "status", f.component_id, f.site_id,
                status="ok", fault_id=f.fault_id, fault_code=f.code, severity=f.severity))
    return events
