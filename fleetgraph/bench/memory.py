"""Does the embedded runner's memory stay flat as the stream grows?

Each measurement runs in a fresh process: simulate to an event log, then
ingest the log streaming from disk and report the peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fleetgraph.bench.workload import write_simulated_log

PROBE = """
import json, sys
from pathlib import Path
from fleetgraph.bench.machine import peak_rss_mib
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import run_embedded
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.sources.eventlog import read_event_log
from fleetgraph.storage.embedded import SQLiteGraphStore
log, db, clock = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
before = peak_rss_mib()
store = SQLiteGraphStore(FLEET, db)
pipeline = Pipeline.for_fleet(StoreSink(store), DeadLetterList(), clock=lambda: clock)
report = run_embedded(pipeline, lambda: read_event_log(log))
print(json.dumps({"events": report.stats.received, "peak_rss_mib": round(peak_rss_mib(), 1),
                  "rss_before_mib": round(before, 1)}))
"""


def probe(sites: int, hours: float, end_us: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log, db = Path(tmp) / "events.avro", Path(tmp) / "graph.sqlite"
        write_simulated_log(log, sites, hours, end_us)
        out = subprocess.run([sys.executable, "-c", PROBE, str(log), str(db), str(end_us)],
                             check=True, capture_output=True, text=True)
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


def flatness(sites: int, hours: float, end_us: int) -> dict[str, Any]:
    short = probe(sites, hours, end_us)
    long = probe(sites, hours * 10, end_us)
    return {"short": short, "long": long,
            "growth": round(long["peak_rss_mib"] / short["peak_rss_mib"] - 1, 3)}
