from __future__ import annotations

from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.errors import RejectedEvent
from fleetgraph.ingest.message import Event
from fleetgraph.ingest.stages.filter import noise_reason
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas.topics import Topic

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
        (event(Topic.JOBS, kind="submitted", job_id="job:j1", gpus_requested=-1),
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


def updated(component: str, **attributes: str) -> Event:
    return event(Topic.INVENTORY, kind="updated", component_id=component, attributes=attributes)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        # every source is held to the domains the registry declares (graph_model/fleet.py)
        (updated("site:s1", battery_soc="7.5"), "out_of_range"),
        (updated("server:n1", gpu_count="-8"), "out_of_range"),
        (updated("server:n1", gpu_count=str(2**70)), "out_of_range"),
        (updated("cdu:c1", status="on-fire"), "bad_value"),
        (updated("switch:w1", role="router"), "bad_value"),
        (updated("site:s1", name="north\x00"), "bad_value"),
        (updated("site:s1", name="n" * 300), "oversized"),
        (updated("site:s1", capacity_kw="nan"), "bad_attribute"),
        (event(Topic.INVENTORY, kind="installed", component_id="rack:r1", parent_id="site:s1",
               attributes={"capacity_kw": "-250"}), "out_of_range"),
        (event(Topic.TELEMETRY, kind="site_energy", component_id="site:s1", battery_soc=7.5),
         "out_of_range"),
        (event(Topic.TELEMETRY, kind="reading", component_id="gpu:g1", metric="utilization",
               value=2.0), "out_of_range"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="fault",
               fault_id="cdu:c1@x\x00"), "bad_id"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="fault",
               fault_id="f" * 1000), "bad_id"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="fault",
               fault_id="cdu:c1@t", fault_code="leak\nDROP"), "bad_value"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1\n", status="ok"), "bad_id"),
        (event(Topic.INVENTORY, kind="linked", component_id="rack:r1", relation="cooled_by",
               target_id="cdu:c1\n"), "bad_id"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="ok", event_id=""),
         "missing_field"),
        (event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="ok",
               event_id="e1\x00"), "bad_value"),
        (event(Topic.JOBS, kind="submitted", job_id="job:j1", job_kind="mining"), "bad_value"),
        (event(Topic.JOBS, kind="finished", job_id="job:j1", exit_reason="x" * 300),
         "oversized"),
        (event(Topic.ARTIFACTS, kind="registered", artifact_id="artifact:a1",
               artifact_kind="virus"), "bad_value"),
        (event(Topic.ARTIFACTS, kind="registered", artifact_id="dataset:d1", size_bytes=-1),
         "out_of_range"),
        (event(Topic.ARTIFACTS, kind="registered", artifact_id="model:m1",
               attributes={"params_b": "-70"}), "out_of_range"),
        (event(Topic.ARTIFACTS, kind="accessed", artifact_id="artifact:a1", site_id="site:s1",
               hits=-3), "out_of_range"),
    ],
)
def test_values_outside_their_property_domain_are_refused(bad: Event, reason: str) -> None:
    with pytest.raises(RejectedEvent) as refused:
        VALIDATOR.check(bad)
    assert refused.value.reason == reason
    assert refused.value.detail


def test_cpu_only_jobs_are_accepted() -> None:
    VALIDATOR.check(event(Topic.JOBS, kind="submitted", job_id="job:j1", job_kind="batch_inference",
                          gpus_requested=0))


def test_values_inside_their_domains_pass() -> None:
    VALIDATOR.check(updated("site:s1", battery_soc="0.5", design="B", capacity_kw="1000"))
    VALIDATOR.check(updated("server:n1", gpu_count="8", status="maintenance"))
    VALIDATOR.check(event(Topic.TELEMETRY, kind="status", component_id="cdu:c1", status="fault",
                          fault_id="cdu:c1@20261121T100000Z", fault_code="pump_failure",
                          severity="critical"))
