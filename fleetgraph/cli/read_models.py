"""``fleetgraph read-models rebuild``: recompute the read models the pipeline keeps
(the site states placement reads at ``at`` = now; the replicas of every artifact and
dataset, which modelHotness, placement and dataResidency read instead of folding
``cached_at`` history) from the graph in the store.

For a store written before the read models existed (the migration path: `fleetgraph
storage init`, then this), after a failure that made the pipeline drop them, or to
check them. It reads every site's topology once (a few batched reads per 50 sites)
and may run while ingest writes: a site the pipeline recomputes meanwhile is right
either way.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from fleetgraph.cli.stored_graph import stored_graph
from fleetgraph.core.clock import wall_clock_us
from fleetgraph.ingest.read_models.maintain import SiteStateMaintainer
from fleetgraph.ingest.read_models.model_sites import MODEL_SITES, ModelSitesMaintainer
from fleetgraph.ingest.read_models.replicas import REPLICAS, ReplicaMaintainer
from fleetgraph.ingest.read_models.residency import RESIDENCY, ResidencyMaintainer
from fleetgraph.ingest.read_models.site_order import INDEX_KEY, SITE_ORDER
from fleetgraph.ingest.read_models.site_state import SITE_FREE_GPUS, SITE_STATE
from fleetgraph.settings import Settings
from fleetgraph.storage.factory import STORES, open_store


@click.group("read-models")
def read_models() -> None:
    """Read models: derived rows the pipeline keeps beside the graph."""


@read_models.command("rebuild")
@click.option("--store", "store_kind", type=click.Choice(STORES), default=None,
              help="[env FLEETGRAPH_STORE; default embedded]")
@click.option("--db", type=click.Path(path_type=Path), default=None,
              help="the embedded store's file [default <data-dir>/graph.sqlite]")
@click.option("--only", type=click.Choice(["site-state", "replicas", "model-sites",
                                           "residency"]),
              default=None,
              help="rebuild one read model only (replicas: the model sites after them) "
                   "[default: all]")
@click.pass_context
def rebuild(ctx: click.Context, store_kind: str | None, db: Path | None,
            only: str | None) -> None:
    """Recompute the site states (placement at now) of every site, the replicas of
    every artifact and dataset, the sites of every model (modelHotness(first)) and the
    places of every dataset (dataResidencySummary), as of now."""
    settings = ctx.find_object(Settings)
    assert settings is not None
    kind, path = stored_graph(settings, store_kind, db)
    with open_store(settings.store, kind=kind, sqlite_path=path) as store:
        if only in (None, "site-state"):
            started = time.perf_counter()
            sites = SiteStateMaintainer(store).rebuild()
            seconds = time.perf_counter() - started
            rows = len(store.get_read_models(SITE_STATE))
            lists = len(store.get_read_models(SITE_FREE_GPUS))
            ordered = INDEX_KEY in store.get_read_models(SITE_ORDER, [INDEX_KEY])
            click.echo(f"{sites:,} sites recomputed in {seconds:.1f} s: {rows:,} "
                       f"{SITE_STATE} rows, {lists:,} {SITE_FREE_GPUS} rows, "
                       f"{SITE_ORDER} {'written' if ordered else 'not written'}")
        # (the --only names that rebuild it, the maintainer, what it recomputes, its rows)
        steps = ((("replicas",), ReplicaMaintainer, "items' replicas", REPLICAS),
                 (("replicas", "model-sites"), ModelSitesMaintainer, "models' sites",
                  MODEL_SITES),  # made from the replicas rows
                 (("residency",), ResidencyMaintainer, "datasets' residency", RESIDENCY))
        for names, maintainer, what, table in steps:
            if only is not None and only not in names:
                continue
            started = time.perf_counter()
            count = maintainer(store, wall_clock_us).rebuild()
            seconds = time.perf_counter() - started
            click.echo(f"{count:,} {what} recomputed in {seconds:.1f} s: "
                       f"{len(store.get_read_models(table)):,} {table} rows")
