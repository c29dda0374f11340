"""What finished jobs register: checkpoints, eval outputs and fine-tuned models.

A training job registers a checkpoint derived from its inputs (and replicates
it at its site); a quarter of them also register a fine-tuned model with its
weights. Batch inference jobs, and some agentic ones, register an eval output.
"""

from __future__ import annotations

import random

from fleetgraph.schemas.topics import Topic
from fleetgraph.simulator.catalogue import artifact_id_of, content_hash
from fleetgraph.simulator.config import MINUTE_US, SECOND_US
from fleetgraph.simulator.draws import between
from fleetgraph.simulator.events import EventIds, SimEvent, artifact_event
from fleetgraph.simulator.jobs import Job


def output_events(job: Job, end_us: int, ids: EventIds, rng: random.Random
                  ) -> list[SimEvent]:
    """The outputs of a job that finished before ``end_us``, noted in ``job.outputs``."""
    if job.outcome != "finished" or job.end_us >= end_us:
        return []
    t = job.end_us - between(rng, 10 * SECOND_US, 2 * MINUTE_US)
    if job.kind == "training":
        return _checkpoint_events(job, t, end_us, ids, rng)
    if job.kind == "batch_inference" or (job.kind == "agentic" and rng.random() < 0.3):
        digest = content_hash(rng)
        output = artifact_id_of(digest)
        job.outputs.append(output)
        return [artifact_event(
            ids(Topic.ARTIFACTS), t, "registered", output, artifact_kind="eval_output",
            content_hash=digest, size_bytes=rng.randrange(10**6, 10**10),
            derived_from=job.inputs)]
    return []


def _checkpoint_events(job: Job, t: int, end_us: int, ids: EventIds, rng: random.Random
                       ) -> list[SimEvent]:
    model = job.model
    digest = content_hash(rng)
    checkpoint = artifact_id_of(digest)
    job.outputs.append(checkpoint)
    events = [artifact_event(
        ids(Topic.ARTIFACTS), t, "registered", checkpoint, artifact_kind="checkpoint",
        content_hash=digest, size_bytes=model.weights_size * 3, model_id=model.id,
        derived_from=job.inputs)]
    replicated = job.end_us + between(rng, 5 * SECOND_US, MINUTE_US)
    if replicated < end_us:
        events.append(artifact_event(ids(Topic.ARTIFACTS), replicated, "replicated",
                                     checkpoint, site_id=job.site.id, tier=1))
    if rng.random() < 0.25:
        events += _fine_tune_events(job, checkpoint, t + SECOND_US, ids, rng)
    return events


def _fine_tune_events(job: Job, checkpoint: str, t: int, ids: EventIds, rng: random.Random
                      ) -> list[SimEvent]:
    """A model fine-tuned from the job's base model on its datasets, and its weights."""
    base = job.model
    name = f"{base.name}-ft{job.id.split(':j')[1]}"
    model_id = f"model:m-{name}"
    digest = content_hash(rng)
    weights = artifact_id_of(digest)
    datasets = [i for i in job.inputs if i.startswith("dataset:")]
    job.outputs += [weights, model_id]
    return [
        artifact_event(
            ids(Topic.ARTIFACTS), t, "registered", model_id, artifact_kind="model",
            derived_from=[base.id, *datasets],
            attributes={"name": name, "family": base.family, "params_b": f"{base.params_b:g}"}),
        artifact_event(
            ids(Topic.ARTIFACTS), t + SECOND_US, "registered", weights,
            artifact_kind="weights", content_hash=digest, size_bytes=base.weights_size,
            model_id=model_id, derived_from=[checkpoint]),
    ]
