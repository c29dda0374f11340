from __future__ import annotations

from typing import Any

import pytest

from graph_model import FLEET
from ingest.errors import RejectedEvent
from ingest.message import Event
from ingest.stages.filter import noise_reason
from ingest.stages.validate import Validator
from schemas.topics import Topic

NOW = 1_763_000_000_000_000


def event(topic: Topic, **fields: Any) -> Event:
    base = {"event_id": "e1", "event_time": NOW}
    defaults: dict[Topic, dict[str, Any]] = {
        Topic.TELEMETRY: {"site_id": None, "metric": None, "value": None, "status": None,
                          "fault_id": None},
        Topic.INVENTORY: {"parent_id": None, "relation": None, "target_id": None,
                          "attributes": {}},
        Topic.JOBS: {"application_id": None, "user_id": None, "model_id": None, "inputs": [],
                     "outputs": [], "placement": [], "gpus_requested": None},
        Topic.ARTIFACTS: {"model_id": None, "derived_from": [], "site_id": None, "tier": None,
                          "hits": None, "size_bytes": None, "attributes": {}},
    }
    return Event(topic, {**base, **defaults[topic], **fields}, "test:0")


VALIDATOR = Validator(FLEET, clock=lambda: NOW)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (event(Topic.TELEMETRY, kind="reading", component_id="toaster:t1", metric="flow_lpm",
               value=1.0), "unknown_id_type"),
        (event(Topic.TELEMETRY, kind="reading", component_id="cdu:c1", metric="supply_temp_c",
               value=900.0), "out_of_range"),
        (event(Topic.TELEMETRY, kind="reading", component_id="cdu:c1", metric="flow_lpm",
               value=float("nan")), "out_of_range"),
        (event(Topic.TELEMETRY, kind="reading", component_id="cdu:c1", metric="flow_lpm"),
         "missing_field"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="on fire"),
         "bad_value"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu c1", status="ok"), "bad_id"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="ok",
               event_time=NOW + 50 * 365 * 86_400_000_000), "from_future"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="ok",
               event_time=0), "too_old"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="x" * 100_000),
         "oversized"),
        (event(Topic.INVENTORY, kind="installed", component_id="rack:r1"), "missing_field"),
        (event(Topic.INVENTORY, kind="linked", component_id="rack:r1", relation="cooled_by",
               target_id="power_shelf:p1"), "wrong_id_type"),
        (event(Topic.INVENTORY, kind="linked", component_id="rack:r1", relation="hugs",
               target_id="cdu:c1"), "bad_value"),
        (event(Topic.JOBS, kind="started", job_id="job:j1"), "missing_field"),
        (event(Topic.JOBS, kind="started", job_id="server:n1",
               placement=[{"server_id": "server:n1", "gpu_ids": []}]), "wrong_id_type"),
        (event(Topic.JOBS, kind="submitted", job_id="job:j1", gpus_requested=0),
         "out_of_range"),
        (event(Topic.ARTIFACTS, kind="replicated", artifact_id="artifact:a1", site_id="site:s1",
               tier=7), "out_of_range"),
        (event(Topic.ARTIFACTS, kind="accessed", artifact_id="artifact:a1"), "missing_field"),
    ],
)
def test_invalid_events_are_refused_with_their_reason(bad: Event, reason: str) -> None:
    with pytest.raises(RejectedEvent) as refused:
        VALIDATOR.check(bad)
    assert refused.value.reason == reason
    assert refused.value.detail  # a message a person can act on


def test_valid_events_pass() -> None:
    VALIDATOR.check(event(Topic.JOBS, kind="started", job_id="job:j1", user_id="user:u1",
                          placement=[{"server_id": "server:n1", "gpu_ids": ["gpu:n1-g0"]}]))
    VALIDATOR.check(event(Topic.ARTIFACTS, kind="replicated", artifact_id="artifact:a1",
                          site_id="site:s1", tier=0))


@pytest.mark.parametrize(
    ("noise", "reason"),
    [
        (event(Topic.TELEMETRY, kind="heartbeat", component_id="cdu:c1"), "heartbeat"),
        (event(Topic.TELEMETRY, kind="reading", component_id="cdu:c1", metric="fan_rpm",
               value=3.0), "unmodelled_metric"),
        (event(Topic.TELEMETRY, kind="reading", component_id="cdu:c1", metric="power_w",
               value=3.0), "unmodelled_metric"),
        (event(Topic.TELEMETRY, kind="site_energy", component_id="site:s1"), "empty_reading"),
    ],
)
def test_noise_is_filtered(noise: Event, reason: str) -> None:
    assert noise_reason(noise) == reason


def test_news_is_not_filtered() -> None:
    assert noise_reason(event(Topic.TELEMETRY, kind="reading", component_id="cdu:c1",
                              metric="flow_lpm", value=300.0)) is None
