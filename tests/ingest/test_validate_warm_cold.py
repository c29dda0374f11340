"""The validator's fast paths (ids met before looked up, not parsed; a telemetry
component's and site's type checked inline) against its general path (a validator that
has met no id: every id parsed and checked by ``_id_value``): the same answer, reason
and message, for random telemetry events with good and bad ids, kinds and values."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Event
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas.topics import Topic

NOW = 1_763_000_000_000_000
IDS = ["cdu:c1", "gpu:g1", "site:s1", "site:s2", "rack:r1", "power_shelf:p1", "job:j1",
       "toaster:t1", "cdu:", "nocolon", "CDU:c1", "gpu:g 1", ""]
METRICS = ["supply_temp_c", "flow_lpm", "temperature_c", "utilization", "output_kw", "rpm"]
VALUES = [None, 0.0, 35.5, -400.0, 1e9, float("nan"), 3, True, "hot"]


def random_event(rng: random.Random) -> Event:
    fields: dict[str, Any] = {
        "event_id": rng.choice(["e1", "e\x01", ""]) if rng.random() < 0.1 else "e1",
        "event_time": NOW, "kind": rng.choice(["reading", "status", "site_energy"]),
        "component_id": rng.choice([*IDS, None]) if rng.random() < 0.2 else rng.choice(IDS[:6]),
        "site_id": rng.choice([None, None, *IDS]), "metric": rng.choice([None, *METRICS]),
        "value": rng.choice(VALUES), "status": rng.choice([None, "ok", "fault", "exploded"]),
        "fault_id": rng.choice([None, "", "f1"]), "fault_code": None, "severity": None,
    }
    for name in ("power_headroom_kw", "thermal_headroom_kw", "battery_soc", "solar_kw"):
        fields[name] = rng.choice([None, 1.0, -1e12])
    return Event(Topic.TELEMETRY, fields, "t:0")


def answer(validator: Validator, event: Event) -> object:
    try:
        return validator.check(event)
    except RejectedEvent as exc:
        return exc.reason, str(exc)
    except Exception as exc:  # what a stage's bug would be: the same on both paths
        return type(exc).__name__


@pytest.mark.parametrize("seed", range(4))
def test_warm_validator_answers_as_a_cold_one(seed: int) -> None:
    rng = random.Random(seed)
    warm = Validator(FLEET, clock=lambda: NOW)
    answers = set()
    for _ in range(3000):
        event = random_event(rng)
        cold = Validator(FLEET, clock=lambda: NOW)
        got, want = answer(warm, event), answer(cold, event)
        assert got == want, (event.fields, got, want)
        answers.add(want if isinstance(want, str) else want[0] if isinstance(want, tuple)
                    else "ok")
    assert {"ok", "bad_id", "wrong_id_type", "out_of_range"} <= answers, answers
