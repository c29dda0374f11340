"""affectedJobs of a component whose faults are days apart reads the jobs of each
fault's window, not the days between them (serving/queries/affected_jobs.py, ``_spans``);
the answer is the brute-force one, worked out here from the written intervals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetgraph.graph_model.records import EdgeUpsert, Provenance
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries import affected_jobs
from fleetgraph.storage.base import GraphStore, TimeWindow
from fleetgraph.storage.embedded import SQLiteGraphStore

HOUR = 3600 * 1_000_000
DAY = 24 * HOUR
T0 = 1_790_000_000_000_000
SERVERS = ["server:s1-r1-n1", "server:s1-r1-n2"]
FAULTS = {"fault:cdu:s1-c1@a": (T0 + DAY + HOUR // 2, T0 + DAY + 2 * HOUR),
          "fault:cdu:s1-c1@b": (T0 + 6 * DAY, T0 + 6 * DAY + HOUR),
          "fault:cdu:s1-c1@c": (T0 + 6 * DAY + HOUR // 2, T0 + 6 * DAY + 3 * HOUR)}


def edge(kind: str, from_id: str, to_id: str, props: dict[str, Any], t: int) -> EdgeUpsert:
    return EdgeUpsert(kind, from_id, to_id, props, t,
                      Provenance(f"{kind}:{from_id}:{to_id}", "test:0", t, "test"))


def fleet(store: GraphStore) -> dict[str, tuple[str, int, int]]:
    """A CDU with three faults (two overlapping, five days after the first), a rack it
    cools, two servers, a job an hour on each for eight days; the jobs by id."""
    writes = [edge("cooled_by", "rack:s1-r1", "cdu:s1-c1", {"valid_from": T0}, T0),
              edge("in_site", "rack:s1-r1", "site:s1", {}, T0)]
    writes += [edge("in_rack", s, "rack:s1-r1", {"valid_from": T0}, T0) for s in SERVERS]
    writes += [edge("had_fault", "cdu:s1-c1", f, {"valid_from": a, "valid_to": b}, a)
               for f, (a, b) in FAULTS.items()]
    jobs = {}
    for server in SERVERS:
        for h in range(8 * 24):
            job, start = f"job:{server[-2:]}-{h:03}", T0 + h * HOUR
            jobs[job] = (server, start, start + HOUR)
            writes.append(edge("ran_on", job, server,
                               {"valid_from": start, "valid_to": start + HOUR}, start))
    store.upsert_edges(writes)
    return jobs


def expected(jobs: dict[str, tuple[str, int, int]]) -> list[tuple[str, str, str, int, int]]:
    rows = []
    for fault, (a, b) in FAULTS.items():
        for job, (server, start, end) in jobs.items():
            if start < b and a < end:
                rows.append((job, fault, server, max(a, start), min(b, end)))
    return sorted(rows, key=lambda r: (r[3], r[0], r[1], r[2]))


def test_faults_days_apart_read_their_own_windows(
    store_factory: Callable[[], GraphStore]
) -> None:
    store = store_factory()
    jobs = fleet(store)
    before = getattr(store, "rows_read", 0)
    answer = affected_jobs(store, "cdu:s1-c1", TimeWindow())
    assert [(r.job_id, r.fault_id, r.server_id, r.overlap_from, r.overlap_to)
            for r in answer.items] == expected(jobs)
    assert {(r.rack_id, r.site_id) for r in answer.items} == {("rack:s1-r1", "site:s1")}
    if isinstance(store, SQLiteGraphStore):
        # the jobs of the faults' hours, not of the five days between (240 a server)
        assert store.rows_read - before <= 3 * len(answer.items), store.rows_read - before
        # so too through the serving layer's proxies (they forward the store's answer)
        counting = CountingStore(store)
        assert counting.window_reads_follow_the_window()
        before = store.rows_read
        assert affected_jobs(counting, "cdu:s1-c1", TimeWindow()) == answer
        assert store.rows_read - before <= 3 * len(answer.items)
    else:  # Cassandra reads every end from a window's start on: one read of the hull
        assert not store.window_reads_follow_the_window()
