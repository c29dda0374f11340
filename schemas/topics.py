"""The source topics and the Avro record each carries."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    TELEMETRY = "telemetry"
    INVENTORY = "inventory"
    JOBS = "jobs"
    ARTIFACTS = "artifacts"


RECORD_OF_TOPIC: dict[Topic, str] = {
    Topic.TELEMETRY: "fleetgraph.events.TelemetryEvent",
    Topic.INVENTORY: "fleetgraph.events.InventoryEvent",
    Topic.JOBS: "fleetgraph.events.JobEvent",
    Topic.ARTIFACTS: "fleetgraph.events.ArtifactEvent",
}
TOPIC_OF_RECORD = {record: topic for topic, record in RECORD_OF_TOPIC.items()}

SOURCE_TOPICS: tuple[Topic, ...] = tuple(Topic)
