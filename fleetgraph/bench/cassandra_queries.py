"""Query latency on Cassandra: the embedded store's graph copied into fresh keyspaces
with the bulk loader (not through Kafka and Faust: at ~2,500 upserts/s the pipeline
would take hours for 10^6 edges), then the same GraphQL queries as on the embedded store.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from fleetgraph.bench import queries, stack
from fleetgraph.bench.cassandra_load import BulkLoader, upserts_from_dump
from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.read_models.maintain import SiteStateMaintainer
from fleetgraph.settings import Settings
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.embedded import SQLiteGraphStore


def run(settings: Settings, sqlite_path: Path, cases: list[queries.QueryCase], now_us: int,
        repeats: int, budget_s: float, label: str) -> dict[str, Any]:
    """Copy the embedded store at ``sqlite_path`` into Cassandra and time the queries
    (no networkx here: the caller measured it on the same graph)."""
    own = stack.private(settings, f"q{label}")
    with stack.keyspaces(own, clock_us=now_us) as store:
        embedded = SQLiteGraphStore(FLEET, sqlite_path)
        click.echo(f"[{label}] copying the embedded store into Cassandra "
                   f"({own.store.cassandra.keyspace_prefix}*) ...", err=True)
        loader = BulkLoader(store.session, FLEET, own.store.cassandra.keyspace_prefix, now_us)
        load = loader.load(upserts_from_dump(FLEET, embedded.dump()))
        embedded.close()
        click.echo(f"[{label}] {load.statements:,} statements in {load.seconds:.0f} s; "
                   f"site-state read model; querying Cassandra ...", err=True)
        rebuild_s = rebuild_read_models(store, now_us)
        measured = queries.measure(store, cases, None, now_us, repeats, baseline=False,
                                   budget_s=budget_s)
    return {"load": load.as_dict(), "keyspace_prefix": own.store.cassandra.keyspace_prefix,
            "read_model_rebuild_s": rebuild_s, "queries": measured}


def rebuild_read_models(store: GraphStore, now_us: int) -> float:
    """Seconds to compute the site-state read model of every site as of ``now_us``."""
    started = time.perf_counter()
    SiteStateMaintainer(store, lambda: now_us).rebuild()
    return round(time.perf_counter() - started, 3)
