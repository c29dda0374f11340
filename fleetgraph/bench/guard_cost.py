"""CPU time of the document guards on hostile documents: a fragment that spreads
itself and fragment DAGs of growing depth (each level spreads the next twice).

``fleetgraph bench guard-cost``: the time per check should grow with the
document's size, not with the 2^levels selections it would expand to.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import parse

from fleetgraph.serving.guards import DEFAULT_LIMITS, check_document
from fleetgraph.serving.schema import build_schema

CYCLE = "query { ...A } fragment A on Query { ...A ...A }"
RUNS = 100


def fragment_dag(levels: int) -> str:
    spreads = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return " ".join(["query { ...F0 }", *spreads,
                     f"fragment F{levels} on Query {{ __typename }}"])


def measure() -> Iterator[str]:
    """One line per document: CPU time per check and the codes it was refused with."""
    schema = build_schema()._schema
    documents = [("cycle", CYCLE)] + [(f"DAG {n} levels", fragment_dag(n)) for n in (11, 22, 44)]
    for name, text in documents:
        document = parse(text)
        started = time.process_time()
        for _ in range(RUNS):
            errors = check_document(schema, document, DEFAULT_LIMITS)
        cpu_ms = (time.process_time() - started) / RUNS * 1000
        codes = [(e.extensions or {}).get("code") for e in errors]
        yield f"{name} ({len(text)} B): {cpu_ms:.3f} ms CPU per check, refused with {codes}"
