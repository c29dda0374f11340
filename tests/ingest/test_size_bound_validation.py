"""The validator's size checks skipped on the decoder's bound (an event whose body is
shorter than the limits cannot hold a string or a list beyond them) against the full
checks: the same answer for random events with strings and lists around the limits,
decoded from their Avro messages."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Event, Message
from fleetgraph.ingest.stages.decode import decode
from fleetgraph.ingest.stages.validate import Limits, Validator
from fleetgraph.schemas.codec import load_event_codec
from fleetgraph.schemas.topics import Topic

NOW = 1_763_000_000_000_000
LIMITS = Limits(max_string=60, max_list=60)  # small, so that bodies straddle them


def text(rng: random.Random) -> str:
    return "x" * rng.choice([1, 2, 5, 20, 59, 60, 61, 80])


def ids(rng: random.Random, node_type: str) -> list[str]:
    return [f"{node_type}:{i}" for i in range(rng.choice([0, 0, 1, 2, 59, 60, 61]))]


def random_event(rng: random.Random) -> tuple[Topic, dict[str, Any]]:
    base = {"event_id": "e" * rng.choice([1, 2, 61]), "event_time": NOW}
    topic = rng.choice(list(Topic))
    if topic is Topic.TELEMETRY:
        return topic, {**base, "kind": "status", "component_id": "gpu:" + text(rng),
                       "status": rng.choice(["ok", "fault"]), "fault_id": text(rng),
                       "fault_code": text(rng)}
    if topic is Topic.INVENTORY:
        return topic, {**base, "kind": "updated", "component_id": "site:s1",
                       "attributes": {text(rng)[:rng.randrange(1, 4)] + str(i): text(rng)
                                      for i in range(rng.choice([0, 1, 61]))}}
    if topic is Topic.JOBS:
        return topic, {**base, "kind": "started", "job_id": "job:" + text(rng),
                       "inputs": ids(rng, "dataset"),
                       "placement": [{"server_id": "server:s", "gpu_ids": ids(rng, "gpu")}
                                     for _ in range(rng.choice([1, 1, 61]))]}
    return topic, {**base, "kind": "registered", "artifact_id": "dataset:" + text(rng),
                   "derived_from": ids(rng, "dataset"),
                   "attributes": {"name": text(rng)}}


def answer(validator: Validator, event: Event) -> Any:
    try:
        return [(w.reason, str(w)) for w in validator.check(event)]
    except RejectedEvent as exc:
        return exc.reason, str(exc)
    except Exception as exc:  # a field the random event leaves out: the same either way
        return type(exc).__name__


@pytest.mark.parametrize("seed", range(3))
def test_checks_on_the_bound_answer_as_the_full_checks(seed: int) -> None:
    rng = random.Random(seed)
    codec = load_event_codec()
    validator = Validator(FLEET, LIMITS, clock=lambda: NOW)
    skipped = oversized = 0
    for i in range(400):
        topic, fields = random_event(rng)
        payload = codec.encode(topic, fields)
        bounded = decode(codec, Message(topic.value, payload, f"t:{i}"))
        assert bounded.bound is not None
        full = Event(bounded.topic, dict(bounded.fields), bounded.source)  # no bound
        got, want = answer(validator, bounded), answer(validator, full)
        assert got == want, (fields, got, want)
        skipped += bounded.bound <= min(LIMITS.max_string, LIMITS.max_list)
        oversized += isinstance(want, tuple) and want[0] == "oversized"
    assert skipped > 30  # the checks were skipped on the bound
    assert oversized > 30  # the limits were crossed, and found on both paths
