"""The headline queries as plain functions over a GraphStore (no GraphQL).

Each hop of a traversal is one batched store read for all the ids of that hop.
"""

from fleetgraph.serving.queries.affected_jobs import AffectedJob, AffectedJobs, affected_jobs
from fleetgraph.serving.queries.hotness import ReplicaEvidence, SiteHotness, model_hotness

__all__ = [
    "AffectedJob",
    "AffectedJobs",
    "ReplicaEvidence",
    "SiteHotness",
    "affected_jobs",
    "model_hotness",
]
