"""The small fleet of conftest, with what the role tests also need: a dataset read and
produced by jobs, lineage edges, a switch, an instrument, jurisdictions and job sites.

    dataset:d1 (eu)  read by job:j1 and job:j3; job:j1 produced artifact:sha256-a2,
    which is derived_from artifact:sha256-a1; dataset:d1 cached_at site:s2
    switch:s1-sw1 in rack:s1-r1 and site:s1; instrument:i1 attached_to site:s1
    sites: s1 eu, s2 us, s3 us; jobs j1..j6 run at site:s1 (site_id)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fleetgraph.graph_model import FLEET
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.serving.conftest import NOW, T0, FleetWriter, H, build_small_fleet


def build_role_fleet(w: FleetWriter) -> None:
    build_small_fleet(w)
    for site, jurisdiction in (("site:s1", "eu"), ("site:s2", "us"), ("site:s3", "us")):
        w.node(site, jurisdiction=jurisdiction)
    for job in ("job:j1", "job:j2", "job:j3", "job:j4", "job:j5", "job:j6"):
        w.node(job, T0 + 8 * H, site_id="site:s1", jurisdiction="eu")
    w.node("dataset:d1", name="corpus", jurisdiction="eu", size_bytes=10**12)
    w.edge("read", "job:j1", "dataset:d1", at=T0 + 1 * H)
    w.edge("read", "job:j3", "dataset:d1", at=T0 + 1 * H)
    w.edge("produced", "job:j1", "artifact:sha256-a2", at=T0 + 3 * H)
    w.edge("derived_from", "artifact:sha256-a2", "artifact:sha256-a1")
    w.edge("cached_at", "dataset:d1", "site:s2", T0, tier=2)
    w.node("switch:s1-sw1", role="tor", status="ok")
    w.edge("in_rack", "switch:s1-sw1", "rack:s1-r1", T0 - 10 * H)
    w.edge("in_site", "switch:s1-sw1", "site:s1", T0 - 10 * H)
    w.node("instrument:i1", kind="microscope", status="ok")
    w.edge("attached_to", "instrument:i1", "site:s1", T0 - 10 * H)


@contextmanager
def role_fleet_store() -> Iterator[SQLiteGraphStore]:
    """The role fleet in an in-memory store."""
    store = SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW)
    build_role_fleet(FleetWriter(store))
    try:
        yield store
    finally:
        store.close()
