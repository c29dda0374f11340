"""affectedJobs: jobs that ran on hardware depending on a component while it was in fault.

See docs/queries.md. One batched store read per hop, whatever the number of
racks, servers and jobs: the component itself and its faults (together), its
dependent racks, their servers, their jobs, and the racks' sites (beside the servers
and jobs: ``GraphStore.together``, at once on a remote backend). Each read asks the store for
the narrowest windows that cover the hop (the windows left, merged where they
overlap: a component's faults days apart are read as separate windows, at once, not
as the days between them, where the store's window reads cost what the window holds;
otherwise their hull); the exact interval cut is done here, edge by edge.

By the component's type: a CDU, power shelf or site reaches its racks (``cooled_by``,
``powered_by``, ``in_site`` into it), a ToR switch the racks it is ``in_rack`` (their
network, as in blastRadius), a rack itself; then the racks' servers and the jobs that
ran on them. A server is its own server. A GPU reaches the jobs it was ``allocated``
to, on the server it was ``in_server`` over the overlap. An instrument holds no jobs
(an empty answer); an id of another type (a job, a model) is an invalid argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from fleetgraph.graph_model.fleet import COMPONENT_TYPES, RACK_EDGE_OF_COMPONENT
from fleetgraph.graph_model.intervals import Interval, cut, hull, none_first, none_last
from fleetgraph.graph_model.records import EdgeRecord
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.queries.intervals import interval_of
from fleetgraph.serving.queries.lookup import pick_target, type_of
from fleetgraph.storage.base import Direction, GraphStore, TimeWindow

DEFAULT_LIMIT = 10_000
# the node type counted at the far end of a hop (in_rack also holds switches)
FAR_TYPE = {"in_rack": "server", "ran_on": "job", "allocated": "job"}


@dataclass(frozen=True, slots=True)
class AffectedJob:
    """A job that ran on ``server_id`` while ``fault_id`` was open, over the overlap."""

    job_id: str
    fault_id: str
    server_id: str
    rack_id: str | None
    site_id: str | None
    overlap_from: int | None
    overlap_to: int | None


@dataclass(frozen=True, slots=True)
class AffectedJobs:
    items: list[AffectedJob]
    truncated: bool  # more results than the limit; ``items`` holds the first ones


@dataclass(frozen=True, slots=True)
class _Path:
    """How far the traversal got: a fault, the rack on the way, the node reached."""

    fault_id: str
    rack_id: str | None
    node_id: str
    window: Interval


def affected_jobs(
    store: GraphStore,
    component_id: str,
    window: TimeWindow = TimeWindow(),  # noqa: B008 - immutable
    limit: int = DEFAULT_LIMIT,
) -> AffectedJobs:
    """Jobs on hardware depending on ``component_id`` while in fault within ``window``."""
    if limit < 1:
        raise InvalidArgument(f"limit must be at least 1, got {limit}")
    kind = type_of(component_id)
    if kind not in COMPONENT_TYPES:
        known = ", ".join(sorted(COMPONENT_TYPES))
        raise InvalidArgument(f"{component_id!r} is not a component that can fail ({known})")
    faults = _faults(store, component_id, window)
    sites: dict[str, list[EdgeRecord]] | None = None  # the racks' in_site edges, if read
    if kind == "gpu":
        rows = _deduplicated(_allocations(store, component_id, faults))
    elif kind == "server":
        rows = _jobs_on([_Path(f.fault_id, None, component_id, f.window) for f in faults],
                        store)
    else:
        racks = _dependent_racks(store, kind, component_id, faults)
        # the racks' sites beside their servers and jobs (together: at once where it can)
        rack_ids = list(dict.fromkeys(p.node_id for p in racks)) if kind != "site" else []
        rows, sites = store.together(
            lambda: _jobs_on([_Path(p.fault_id, p.node_id, far, w)
                              for p, far, w in _hop(store, "in_rack", racks)], store),
            lambda: store.neighbours("in_site", rack_ids, Direction.OUT) if rack_ids else {})
    if kind in ("server", "gpu"):
        rows = _with_racks(store, rows)
    rows = _with_sites(store, rows, component_id if kind == "site" else None, sites)
    rows.sort(key=lambda r: (none_first(r.overlap_from), r.job_id, r.fault_id, r.server_id))
    return AffectedJobs(rows[:limit], len(rows) > limit)


def _jobs_on(servers: list[_Path], store: GraphStore) -> list[AffectedJob]:
    """The jobs that ran on each path's server over its window (one per job, fault and
    server)."""
    return _deduplicated(
        AffectedJob(far, p.fault_id, p.node_id, p.rack_id, None, w[0], w[1])
        for p, far, w in _hop(store, "ran_on", servers)
    )


def _faults(store: GraphStore, component_id: str, window: TimeWindow) -> list[_Path]:
    """The component's faults overlapping ``window``, each cut to it."""
    found, faults_of = store.together(
        lambda: store.get_nodes([component_id]),
        lambda: store.neighbours("had_fault", [component_id], Direction.OUT, window))
    edges = faults_of[component_id]
    if not found and not edges:
        raise NotFound(f"no component {component_id!r} in the graph")
    query = window.interval
    faults = []
    for edge in edges:
        fault_window = cut(interval_of(edge), query)
        if fault_window is not None:
            faults.append(_Path(edge.to_id, None, component_id, fault_window))
    return faults


def _dependent_racks(
    store: GraphStore, kind: str, component_id: str, faults: list[_Path]
) -> list[_Path]:
    if kind == "rack":
        return [_Path(f.fault_id, component_id, component_id, f.window) for f in faults]
    if kind == "switch":  # a ToR switch is in_rack the racks whose network it is
        return [
            _Path(p.fault_id, far, far, w)
            for p, far, w in _hop(store, "in_rack", faults, Direction.OUT)
            if type_of(far) == "rack"
        ]
    edge_type = RACK_EDGE_OF_COMPONENT.get(kind)
    if edge_type is None:
        return []  # nothing runs on an instrument
    return [
        _Path(p.fault_id, far, far, w)
        for p, far, w in _hop(store, edge_type, faults)
        if type_of(far) == "rack"
    ]


Step = tuple[_Path, str, Interval]


def _hop(store: GraphStore, edge_type: str, paths: list[_Path],
         direction: Direction = Direction.IN) -> list[Step]:
    """Follow ``edge_type`` from every path's node in one store read (backwards, into
    the node, unless ``direction`` says out).

    Returns (path, far node, window left) for each edge overlapping the path's window.
    """
    if not paths:
        return []
    spans = _spans(paths, apart=store.window_reads_follow_the_window())
    reads = [(lambda ids=ids, window=window: store.neighbours(edge_type, ids, direction, window))
             for window, ids, _ in spans]
    found = store.run_reads(reads)
    adjacency_of = {id(path): adjacency
                    for (_, _, members), adjacency in zip(spans, found, strict=True)
                    for path in members}
    far_type = FAR_TYPE.get(edge_type) if direction == Direction.IN else None
    steps: list[Step] = []
    for path in paths:
        for edge in adjacency_of[id(path)].get(path.node_id, []):
            far = edge.from_id if direction == Direction.IN else edge.to_id
            if far_type is not None and type_of(far) != far_type:
                continue
            left = cut(interval_of(edge), path.window)
            if left is not None:
                steps.append((path, far, left))
    return steps


def _spans(paths: list[_Path], apart: bool = True
           ) -> list[tuple[TimeWindow, list[str], list[_Path]]]:
    """Per window to read, its hull, the ids of its paths and the paths: the paths'
    windows merged where they overlap (or touch) when ``apart``, else one for all. A
    component's faults days apart are read as separate windows (at once), not as the
    days between them."""
    groups = _overlapping(paths) if apart else [paths]
    return [(TimeWindow.of(hull(p.window for p in group)),
             list(dict.fromkeys(p.node_id for p in group)), group) for group in groups]


def _overlapping(paths: list[_Path]) -> list[list[_Path]]:
    """The paths grouped by their windows merged where they overlap, in time order."""
    groups: list[list[_Path]] = []
    end: int | None = None
    for path in sorted(paths, key=lambda p: none_first(p.window[0])):
        start = path.window[0]
        if groups and (end is None or start is None or start <= end):
            groups[-1].append(path)
            end = None if end is None or path.window[1] is None else max(end, path.window[1])
        else:
            groups.append([path])
            end = path.window[1]
    return groups


def _allocations(store: GraphStore, gpu_id: str, faults: list[_Path]) -> list[AffectedJob]:
    """For a GPU component: the jobs it was ``allocated`` to while in fault, each on
    the server the GPU was ``in_server`` over the overlap (a GPU never installed in a
    server has no rows: nothing says where its jobs ran)."""
    steps = _hop(store, "allocated", faults)
    if not steps:
        return []
    servers = store.neighbours("in_server", [gpu_id], Direction.OUT)[gpu_id]
    rows = []
    for path, job, left in steps:
        server = pick_target(servers, left)
        if server is not None:
            rows.append(AffectedJob(job, path.fault_id, server, None, None, left[0], left[1]))
    return rows


def _deduplicated(rows: Iterable[AffectedJob]) -> list[AffectedJob]:
    """One row per (job, fault, server): the earliest, then longest overlap, then lowest rack."""
    best: dict[tuple[str, str, str], AffectedJob] = {}

    def preference(row: AffectedJob) -> tuple[object, ...]:
        return none_first(row.overlap_from), none_last(row.overlap_to), row.rack_id or ""

    for row in rows:
        key = (row.job_id, row.fault_id, row.server_id)
        if key not in best or preference(row) < preference(best[key]):
            best[key] = row
    return list(best.values())


def _with_racks(store: GraphStore, rows: list[AffectedJob]) -> list[AffectedJob]:
    """For a server or GPU component: the rack the server was in during each overlap."""
    servers = list(dict.fromkeys(r.server_id for r in rows))
    if not servers:
        return rows
    racks = store.neighbours("in_rack", servers, Direction.OUT)
    return [
        replace(r, rack_id=pick_target(racks[r.server_id], (r.overlap_from, r.overlap_to)))
        for r in rows
    ]


def _with_sites(
    store: GraphStore, rows: list[AffectedJob], site_id: str | None,
    read: dict[str, list[EdgeRecord]] | None = None,
) -> list[AffectedJob]:
    """The site of each row's rack during the overlap (the component when it is a site),
    from the racks' ``in_site`` edges ``read`` already (those of every row's rack), else
    read here."""
    if site_id is not None:
        return [replace(r, site_id=site_id) for r in rows]
    racks = list(dict.fromkeys(r.rack_id for r in rows if r.rack_id is not None))
    if not racks:
        return rows
    sites = read if read is not None else store.neighbours("in_site", racks, Direction.OUT)
    return [
        replace(r, site_id=pick_target(sites[r.rack_id], (r.overlap_from, r.overlap_to)))
        if r.rack_id is not None
        else r
        for r in rows
    ]
