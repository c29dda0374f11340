"""placement at fleet scale: the read model next to the whole-fleet definition.

    python -m fleetgraph.bench.placement_scale --sites 1000 [--store cassandra]

Writes a synthetic fleet straight into a store (no pipeline: at 1000 sites the
simulator and the ingest take long on this machine): per site ``--racks`` racks,
each with a CDU, a power shelf and ``--servers`` servers of ``--gpus`` GPUs (1000 x
4 x 5 x 8: 160,000 GPUs, the fleet's size), a third of the GPUs allocated (half of
those until an hour from now), a CDU in fault in one site of seven, a model's weights
cached at one site of ten. Then it rebuilds the site-state read model as of now,
checks that placement at now answers as the definition, and times both (placement
at now: p50/p99 over ``--runs`` runs; the definition over a few, it is slow). Prints
one JSON object. Cassandra: a keyspace prefix of its own, dropped at the end.

The requests ask for the best 10 candidates with their free GPUs, as the scheduler
does. Placement at now is timed three ways in the same run: as kept (``placement_now``:
the rows are the site directory, with the site properties); with the whole ranking
built (``placement_now_all_candidates``: no ``first``); and with the rows in the
layout before the site properties, without the directory mark
(``placement_now_layout_2``: every site node scanned, what placement read until
then), the rows put back as kept afterwards.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fleetgraph.bench.stats import summary_ms
from fleetgraph.core.clock import minute_floor_us, wall_clock_us
from fleetgraph.core.units import HOUR_US
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
from fleetgraph.ingest.read_models.maintain import SiteStateMaintainer
from fleetgraph.ingest.read_models.site_state import DIRECTORY_KEY, SITE_STATE
from fleetgraph.serving.queries.placement import (
    PlacementRequest,
    placement,
    placement_reference,
)
from fleetgraph.storage.base import GraphStore

CHUNK = 20_000  # upserts per write


def fleet(sites: int, racks: int, servers: int, gpus: int, now_us: int) -> list[Upsert]:
    t = now_us - 24 * HOUR_US
    prov = Provenance("bench", "placement-scale", t, "bench")
    out: list[Upsert] = [NodeUpsert("model", "model:m", {"name": "m"}, t, prov),
                         EdgeUpsert("artifact_of", "artifact:sha256-w", "model:m", {}, t, prov)]

    def edge(kind: str, a: str, b: str, **props: Any) -> None:
        out.append(EdgeUpsert(kind, a, b, {"valid_from": t, **props}, t, prov))

    for s in range(sites):
        site = f"site:x{s:04d}"
        out.append(NodeUpsert("site", site, {
            "jurisdiction": ("de", "fr", "us-va", "jp")[s % 4],
            "region": ("eu", "us", "asia")[s % 3],
            "power_headroom_kw": float(100 + s % 900), "battery_soc": (s % 10) / 10,
            "solar_kw": float(s % 500)}, t, prov))
        if s % 10 == 0:
            edge("cached_at", "artifact:sha256-w", site, tier=s % 3, last_access=now_us - HOUR_US,
                 hits=s % 50)
        for r in range(racks):
            rack, cdu = f"rack:x{s:04d}-r{r}", f"cdu:x{s:04d}-c{r}"
            shelf = f"power_shelf:x{s:04d}-p{r}"
            edge("in_site", rack, site)
            edge("in_site", cdu, site)
            edge("in_site", shelf, site)
            edge("cooled_by", rack, cdu)
            edge("powered_by", rack, shelf)
            if s % 7 == 0 and r == 0:
                edge("had_fault", cdu, f"fault:x{s:04d}-c{r}", valid_to=now_us + HOUR_US)
            for n in range(servers):
                server = f"server:x{s:04d}-r{r}-n{n}"
                edge("in_rack", server, rack)
                for g in range(gpus):
                    gpu = f"gpu:x{s:04d}-r{r}-n{n}-g{g}"
                    edge("in_server", gpu, server)
                    if (g + n + r + s) % 3 == 0:
                        end = {"valid_to": now_us + HOUR_US} if g % 2 else {}
                        edge("allocated", f"job:x{s:04d}-{r}-{n}", gpu, **end)
    return out


def write(store: GraphStore, upserts: list[Upsert]) -> None:
    for i in range(0, len(upserts), CHUNK):
        chunk = upserts[i : i + CHUNK]
        store.upsert_nodes([u for u in chunk if isinstance(u, NodeUpsert)])
        store.upsert_edges([u for u in chunk if isinstance(u, EdgeUpsert)])


def timed(run: Callable[[], object], runs: int) -> dict[str, Any]:
    """Wall-clock p50/p99, and the CPU time of this process per run (the machine may be
    shared: CPU time is what the query costs, wall time what a caller waits)."""
    samples = []
    cpu = time.process_time()
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    cpu_ms = (time.process_time() - cpu) * 1000 / max(1, runs)
    return {**summary_ms(samples), "cpu_ms_per_run": round(cpu_ms, 2)}


def measure(store: GraphStore, args: argparse.Namespace) -> dict[str, Any]:
    now = minute_floor_us(wall_clock_us())
    upserts = fleet(args.sites, args.racks, args.servers, args.gpus, now)
    started = time.perf_counter()
    write(store, upserts)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    SiteStateMaintainer(store, lambda: now).rebuild()
    rebuild_s = time.perf_counter() - started
    requests = [PlacementRequest(g, model_id=m, servers_for=10, first=10)
                for g in (8, 64) for m in (None, "model:m")]
    whole = [replace(r, first=None) for r in requests]
    kept = store.get_read_models(SITE_STATE)

    def check(asked: list[PlacementRequest]) -> None:
        """The same answers as the definition, or the figures mean nothing."""
        for request in asked:
            expected = placement_reference(store, replace(request, at_us=now, first=None),
                                           now)
            if request.first is not None:
                del expected.candidates[request.first:]
            assert placement(store, request, now) == expected, request

    def time_now(asked: list[PlacementRequest], checked: int = 4) -> dict[str, Any]:
        check(asked[:checked])
        cycle = iter(range(10**9))
        return timed(lambda: placement(store, asked[next(cycle) % len(asked)], now),
                     args.runs)

    fast = time_now(requests)
    all_candidates = time_now(whole, checked=1)  # the reference is slow: one each
    store.put_read_models(SITE_STATE, layout_2(kept))
    before = time_now(requests, checked=1)
    store.put_read_models(SITE_STATE, kept)
    cycle = iter(range(10**9))
    slow = timed(lambda: placement_reference(
        store, replace(requests[next(cycle) % 4], at_us=now), now), args.reference_runs)
    return {"sites": args.sites, "gpus": args.sites * args.racks * args.servers * args.gpus,
            "upserts": len(upserts), "load_s": round(load_s, 1),
            "read_model_rebuild_s": round(rebuild_s, 1),
            "placement_now": fast, "placement_now_all_candidates": all_candidates,
            "placement_now_layout_2": before, "placement_reference": slow,
            "reference_over_read_model_p99": round(slow["p99_ms"] / fast["p99_ms"], 1),
            "layout_2_over_read_model_cpu": round(
                before["cpu_ms_per_run"] / fast["cpu_ms_per_run"], 1)}


def layout_2(rows: dict[str, str]) -> dict[str, str | None]:
    """The rows as the layout before the site properties wrote them (counts only), and
    the directory mark deleted."""
    older: dict[str, str | None] = {DIRECTORY_KEY: None}
    for key, text in rows.items():
        fields = text.split(",")
        if key != DIRECTORY_KEY and fields[0] == "3" and len(fields) >= 7:
            older[key] = ",".join(["2", *fields[1:6]])
    return older


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--racks", type=int, default=4)
    parser.add_argument("--servers", type=int, default=5)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reference-runs", type=int, default=5)
    parser.add_argument("--store", choices=("embedded", "cassandra"), default="embedded")
    args = parser.parse_args()
    if args.store == "embedded":
        import tempfile
        from pathlib import Path

        from fleetgraph.settings import Settings
        from fleetgraph.storage.factory import open_store

        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(Settings().store, kind="embedded",
                               sqlite_path=Path(tmp) / "placement.sqlite")
            try:
                result = measure(store, args)
            finally:
                store.close()
    else:
        from fleetgraph.settings import Settings
        from fleetgraph.storage.config import CassandraConfig
        from fleetgraph.storage.factory import open_store

        settings = Settings()
        config = settings.store.model_copy(update={"cassandra": CassandraConfig(
            hosts=settings.store.cassandra.hosts, port=settings.store.cassandra.port,
            keyspace_prefix=f"pscale{int(time.time()) % 100000}_")})
        store = open_store(config, kind="cassandra", schema="init")
        try:
            result = measure(store, args)
        finally:
            drop = getattr(store, "drop_schema", None)
            if drop is not None:
                drop()
            store.close()
    print(json.dumps({"store": args.store, **result}, indent=2))


if __name__ == "__main__":
    main()
