"""A reference placement scheduler: pending jobs in, ``jobs`` events out.

It reads pending job requests, asks the fleet graph's ``placement`` query over
HTTP, picks the best candidate site and concrete free GPUs there, and publishes
``submitted`` then ``started`` events (Avro, as on the ``jobs`` topic) through a
publisher: an event log file, a list in memory, or (later) Kafka.
"""

from fleetgraph.clients.scheduler.client import (
    Decision,
    EventLogPublisher,
    JobRequest,
    MemoryPublisher,
    PlacementClient,
    Publisher,
    Scheduler,
    SchedulerError,
    ServerGpus,
    read_requests,
)

__all__ = [
    "Decision",
    "EventLogPublisher",
    "JobRequest",
    "MemoryPublisher",
    "PlacementClient",
    "Publisher",
    "Scheduler",
    "SchedulerError",
    "ServerGpus",
    "read_requests",
]
