"""Example queries with real ids from the fleet in a store, run and printed.

``fleetgraph demo`` writes :func:`examples_text` to a file after ingesting (and
GraphiQL opens :func:`find_examples` as its tabs): it looks for a CDU whose fault
touched running jobs and for the model that is hottest, and shows one query per
kind of user with the answer the server gives.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import click

from fleetgraph.bench.documents import RESIDENCY, SITE, scan
from fleetgraph.core.units import HOUR_US
from fleetgraph.serving.context import new_context
from fleetgraph.serving.queries.affected_jobs import affected_jobs
from fleetgraph.serving.queries.hotness import model_hotness
from fleetgraph.serving.schema import build_schema
from fleetgraph.serving.times import now_us, to_datetime
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

SHOWN_ITEMS = 3
SHOWN_SCALARS = 8


@dataclass(frozen=True)
class Example:
    title: str
    query: str
    variables: dict[str, Any]


def find_examples(store: GraphStore, now: int) -> list[Example]:
    examples: list[Example] = []
    faulted = sorted({str(f.props["component_id"]) for f in scan(store, "fault")
                      if str(f.props.get("component_id", "")).startswith("cdu:")})
    counts = {cdu: len(affected_jobs(store, cdu).items) for cdu in faulted}
    if counts:
        cdu = max(sorted(counts), key=lambda c: counts[c])
        examples.append(Example(
            f"Incident: jobs that ran on hardware cooled by {cdu} while it was in fault",
            """query Affected($cdu: ID!) {
  affectedJobs(componentId: $cdu) {
    truncated
    items { jobId faultId serverId rackId siteId overlapFrom overlapTo job { kind status } }
  }
}""", {"cdu": cdu}))
        site = next(iter(store.neighbours("in_site", [cdu], Direction.OUT)[cdu]), None)
        if site is not None:
            examples.append(Example(
                f"Ops: what is in {site.to_id}, what cools its racks, what is faulty",
                SITE, {"site": site.to_id}))
        examples.append(Example(
            f"Incident: what a failure of {cdu} takes down now, redundancy counted",
            """query Blast($cdu: ID!) {
  blastRadius(componentId: $cdu) {
    truncated alreadyInFault
    items { id impact dependency path }
    jobs { jobId serverId impact }
  }
}""", {"cdu": cdu}))
    window = TimeWindow(now - 24 * HOUR_US, now)
    scores = {}
    for record in scan(store, "model"):
        ranking = model_hotness(store, record.id, window, now_us=now)
        if ranking:
            scores[record.id] = ranking[0].score
    if scores:
        model = max(sorted(scores), key=lambda m: scores[m])
        examples.append(Example(
            f"Scheduler: where is {model} hot in the last 24 hours",
            """query Hot($model: ID!) {
  modelHotness(modelId: $model) {
    siteId score replicas { artifactId tier lastAccess hits score }
  }
}""", {"model": model}))
        examples.append(Example(
            "Scheduler: where can a 16-GPU job of that model run",
            """query Place($model: ID!) {
  placement(request: {gpus: 16, modelId: $model}) {
    candidates(first: 3) {
      siteId score freeGpuCount parts { gpu health model data energy region }
      freeGpus(limit: 2) { serverId gpuIds }
    }
    excluded { siteId reasons { code detail } }
  }
}""", {"model": model}))
    datasets = [d.id for d in scan(store, "dataset")]
    if datasets:
        read = store.neighbours("read", datasets, Direction.IN)
        dataset = max(datasets, key=lambda d: (len(read[d]), d))
        examples.append(Example(
            f"Auditor: where was {dataset} processed and held, outside us-ca and us-wa",
            RESIDENCY, {"dataset": dataset}))
        produced = store.neighbours("produced", [e.from_id for e in read[dataset]][:50],
                                    Direction.OUT)
        outputs = sorted(e.to_id for edges in produced.values() for e in edges)
        if outputs:
            examples.append(Example(
                f"Auditor: where {outputs[0]} came from, with the events behind each edge",
                """query Lineage($id: ID!) {
  lineage(id: $id, direction: UP, depth: 3) {
    nodes { id distance }
    edges { type fromId toId origin { createdBy latest { source eventTime } } }
  }
}""", {"id": outputs[0]}))
    return examples


def run_example(store: GraphStore, example: Example, now: int) -> dict[str, Any]:
    result = asyncio.run(build_schema().execute(
        example.query, variable_values=example.variables,
        context_value=new_context(store, clock=lambda: now),
    ))
    if result.errors:
        return {"errors": [e.message for e in result.errors]}
    return result.data or {}


def shortened(value: Any) -> Any:
    """The answer with long lists cut to a few items, saying how many were left out."""
    if isinstance(value, list):
        keep = SHOWN_ITEMS if any(isinstance(v, dict | list) for v in value) else SHOWN_SCALARS
        head = [shortened(v) for v in value[:keep]]
        if len(value) > keep:
            head.append(f"... {len(value) - keep} more")
        return head
    if isinstance(value, dict):
        return {k: shortened(v) for k, v in value.items()}
    return value


def examples_text(store: GraphStore, url: str, now: int | None = None,
                  examples: list[Example] | None = None) -> str:
    """Each example query with its variables and (shortened) answer, as Markdown-ish
    text; the first one also as a curl command."""
    now = now or now_us()
    examples = find_examples(store, now) if examples is None else examples
    lines = [f"GraphQL (GraphiQL in a browser) at {url}; as of {to_datetime(now)}.", ""]
    for example in examples:
        lines.append(f"# {example.title}")
        lines.append(example.query)
        lines.append(f"# variables: {json.dumps(example.variables)}")
        answer = shortened(run_example(store, example, now))
        lines.append("# answer:\n" + json.dumps(answer, indent=2, default=str) + "\n")
    if examples:
        body = json.dumps({"query": examples[0].query, "variables": examples[0].variables})
        lines.append("# the first one with curl:")
        lines.append(f"curl -s {url} -H 'content-type: application/json' -d '{body}'\n")
    return "\n".join(lines)


def print_examples(store: GraphStore, url: str, now: int | None = None) -> None:
    click.echo("\n" + examples_text(store, url, now))
