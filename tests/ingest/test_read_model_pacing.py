"""The read-model sink waits after a recomputation in proportion to what it cost, so
a replay of a large fleet does not spend its time recomputing sites."""

from __future__ import annotations

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import NodeUpsert, Provenance
from fleetgraph.ingest.read_models.maintain import REFRESH_PACE, MaintainingStoreSink
from fleetgraph.ingest.read_models.site_state import SITE_STATE, STALE
from fleetgraph.storage.embedded import SQLiteGraphStore


def site(n: int, ts: int) -> NodeUpsert:
    return NodeUpsert("site", f"site:s{n}", {"region": "east"}, ts, Provenance("e", "s", ts, "t"))


def test_a_costly_recomputation_makes_the_next_one_wait() -> None:
    ticks = iter([100.0, 103.0])  # one recomputation, 3 s long
    now = [0.0]
    sink = MaintainingStoreSink(SQLiteGraphStore(FLEET), every_s=1.0,
                                monotonic=lambda: now[0], timer=lambda: next(ticks))
    sink.write([site(1, 10)])  # the first batch touching a site is recomputed at once
    assert sink.every_s == 3.0 * REFRESH_PACE
    assert sink.maintainer.recomputed == 1
    now[0] = 5.0  # past the least wait, within the paced one: marked, not recomputed
    sink.write([site(2, 20)])
    assert sink.maintainer.recomputed == 1 and sink.pending == {"site:s2"}
    assert sink.store.get_read_models(SITE_STATE)["site:s2"] == STALE


def test_a_cheap_recomputation_keeps_the_least_wait() -> None:
    ticks = iter([100.0, 100.01])
    sink = MaintainingStoreSink(SQLiteGraphStore(FLEET), every_s=1.0,
                                monotonic=lambda: 0.0, timer=lambda: next(ticks))
    sink.write([site(1, 10)])
    assert sink.every_s == 1.0
