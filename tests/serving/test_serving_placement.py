"""placement on a hand-built fleet, every score worked out by hand.

Times in hours from T0 (2026-11-21 00:00 UTC); the fleet is read at AT = T0 + 10 h::

    site:a  west, us; headroom 500 kW, battery 0.6, solar 500 kW -> energy (0.5+0.6+1)/3 = 0.7
            rack:a-r1  cooled_by cdu:a-c1, powered_by power_shelf:a-p1 (fault [1h, 2h): over)
                       server:a-r1-n1  gpus g0..g3; g0 allocated [1h, open), g1 [1h, 9h)
            rack:a-r2  cooled_by cdu:a-c2 only; cdu:a-c2 in fault [5h, open) -> rack down
                       server:a-r2-n1  gpus g0..g3
            free at AT: a-r1-n1 g1 g2 g3 = 3; health 1/2
    site:b  east, us; headroom 2000 kW, no battery, no solar -> energy (1+0+0)/3 = 1/3
            rack:b-r1  cooled_by cdu:b-c1 (fault [3h, open)) and cdu:b-c2 -> degraded
                       server:b-r1-n1  gpus g0..g3 (not free: the rack is not healthy)
            rack:b-r2  cooled_by cdu:b-c2
                       server:b-r2-n1  gpus g0..g7 (g8 left the server at 6h)
                       server:b-r2-n2  gpus g0, g1 (g1 in fault [2h, open))
            free at AT: 8 + 1 = 9; health 1/2
    site:c  west, de; rack:c-r1 (no CDU, no shelf: nothing to lose), server:c-r1-n1 g0..g7
            free 8; health 1; energy 0
    site:d  west, us; rack:d-r1 with switch:d-tor1 (fine), server:d-r1-n1 g0 g1 and
            server:d-r1-n2 g0 g1 (the server in fault [4h, open)); free 2
    site:e  no region, no jurisdiction; rack:e-r1, server:e-r1-n1 g0; free 1
    site:f  us; rack:f-r1 whose only switch:f-tor1 is in fault -> down; free 0
    site:g  us; in fault itself [8h, open): its rack:g-r1 is down; free 0

    model:m  artifact:sha256-w (weights) cached at site:a, tier 0, last access AT - 1 us
             -> hot only at a (model part 1 at a, 0 elsewhere)
    dataset:ds1 cached at site:b [2h, open); dataset:ds2 at site:b [0h, 5h) (evicted)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from fleetgraph.core.units import HOUR_US
from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.serving.errors import InvalidArgument
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries.placement import (
    Candidate,
    PlacementRequest,
    Reason,
    ScoreParts,
    ServerGpus,
    pick_gpus,
    placement,
)
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.embedded import SQLiteGraphStore

H = HOUR_US
T0 = 1_795_219_200_000_000  # 2026-11-21 00:00 UTC, as in tests/serving/conftest.py
AT = T0 + 10 * H
NOW = T0 + 24 * H  # the clock of the GraphQL runner (tests/serving/conftest.py)


def t(hours: float) -> int:
    return T0 + round(hours * H)


class Writer:
    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.n = 0

    def _prov(self, ts: int) -> Provenance:
        self.n += 1
        return Provenance(f"e{self.n}", f"test/0/{self.n}", ts, "placement-test")

    def node(self, node_id: str, **props: Any) -> None:
        ts = T0 - 48 * H
        self.store.upsert_nodes(
            [NodeUpsert(node_id.split(":", 1)[0], node_id, props, ts, self._prov(ts))]
        )

    def edge(
        self, edge_type: str, a: str, b: str, start: float | None = 0.0,
        end: float | None = None, **props: Any,
    ) -> None:
        """A temporal edge valid over [start, end) hours (start None: unbounded)."""
        if FLEET.edge(edge_type).temporal:
            if start is not None:
                props["valid_from"] = t(start)
            if end is not None:
                props["valid_to"] = t(end)
        ts = T0 - 48 * H
        self.store.upsert_edges([EdgeUpsert(edge_type, a, b, props, ts, self._prov(ts))])

    def fault(self, component: str, start: float, end: float | None = None) -> None:
        fault_id = f"fault:{component}@{start}"
        self.node(fault_id, component_id=component)
        self.edge("had_fault", component, fault_id, start, end)

    def rack(self, site: str, rack: str, servers: dict[str, int]) -> None:
        self.node(rack, status="ok")
        self.edge("in_site", rack, site)
        for server, gpus in servers.items():
            self.node(server, status="ok")
            self.edge("in_rack", server, rack)
            for g in range(gpus):
                gpu = f"gpu:{server[7:]}-g{g}"
                self.node(gpu, status="ok")
                self.edge("in_server", gpu, server)

    def part(self, site: str, part: str) -> None:
        self.node(part, status="ok")
        self.edge("in_site", part, site)


def build(w: Writer) -> None:
    w.node("site:a", region="west", jurisdiction="us", power_headroom_kw=500.0,
           battery_soc=0.6, solar_kw=500.0)
    w.node("site:b", region="east", jurisdiction="us", power_headroom_kw=2000.0)
    w.node("site:c", region="west", jurisdiction="de")
    w.node("site:d", region="west", jurisdiction="us")
    w.node("site:e")
    w.node("site:f", jurisdiction="us")
    w.node("site:g", jurisdiction="us")
    for site, part in (("site:a", "cdu:a-c1"), ("site:a", "cdu:a-c2"),
                       ("site:a", "power_shelf:a-p1"), ("site:b", "cdu:b-c1"),
                       ("site:b", "cdu:b-c2"), ("site:d", "switch:d-tor1"),
                       ("site:f", "switch:f-tor1")):
        w.part(site, part)

    w.rack("site:a", "rack:a-r1", {"server:a-r1-n1": 4})
    w.edge("cooled_by", "rack:a-r1", "cdu:a-c1")
    w.edge("powered_by", "rack:a-r1", "power_shelf:a-p1")
    w.fault("power_shelf:a-p1", 1, 2)
    w.edge("allocated", "job:busy", "gpu:a-r1-n1-g0", 1)
    w.edge("allocated", "job:done", "gpu:a-r1-n1-g1", 1, 9)
    w.rack("site:a", "rack:a-r2", {"server:a-r2-n1": 4})
    w.edge("cooled_by", "rack:a-r2", "cdu:a-c2")
    w.fault("cdu:a-c2", 5)

    w.rack("site:b", "rack:b-r1", {"server:b-r1-n1": 4})
    w.edge("cooled_by", "rack:b-r1", "cdu:b-c1")
    w.edge("cooled_by", "rack:b-r1", "cdu:b-c2")
    w.fault("cdu:b-c1", 3)
    w.rack("site:b", "rack:b-r2", {"server:b-r2-n1": 8, "server:b-r2-n2": 2})
    w.edge("cooled_by", "rack:b-r2", "cdu:b-c2")
    w.node("gpu:b-r2-n1-g8")
    w.edge("in_server", "gpu:b-r2-n1-g8", "server:b-r2-n1", 0, 6)
    w.fault("gpu:b-r2-n2-g1", 2)

    w.rack("site:c", "rack:c-r1", {"server:c-r1-n1": 8})
    w.rack("site:d", "rack:d-r1", {"server:d-r1-n1": 2, "server:d-r1-n2": 2})
    w.edge("in_rack", "switch:d-tor1", "rack:d-r1")
    w.fault("server:d-r1-n2", 4)
    w.rack("site:e", "rack:e-r1", {"server:e-r1-n1": 1})
    w.rack("site:f", "rack:f-r1", {"server:f-r1-n1": 4})
    w.edge("in_rack", "switch:f-tor1", "rack:f-r1")
    w.fault("switch:f-tor1", 0)
    w.rack("site:g", "rack:g-r1", {"server:g-r1-n1": 4})
    w.fault("site:g", 8)

    w.node("model:m", name="m")
    w.node("artifact:sha256-w", kind="weights")
    w.edge("artifact_of", "artifact:sha256-w", "model:m")
    w.edge("cached_at", "artifact:sha256-w", "site:a", 2, tier=0, last_access=AT - 1)
    w.node("dataset:ds1")
    w.node("dataset:ds2")
    w.edge("cached_at", "dataset:ds1", "site:b", 2, tier=1)
    w.edge("cached_at", "dataset:ds2", "site:b", 0, 5, tier=1)


@pytest.fixture
def store() -> Iterator[CountingStore]:
    counted = CountingStore(SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW))
    build(Writer(counted))
    counted.reset()
    yield counted
    counted.close()


ENERGY_A, ENERGY_B = 0.7, 1 / 3
DECAY = 0.5 ** (1 / (6 * H))  # the weights were accessed 1 us before AT


def score(gpu: float, health: float, model: float, data: float, energy: float,
          region: float) -> float:
    return 0.35 * gpu + 0.15 * health + 0.25 * model + 0.15 * data + 0.10 * energy + (
        0.05 * region
    )


def approx(value: float) -> float:
    """``pytest.approx``, typed as the float it compares equal to."""
    return cast(float, pytest.approx(value))


def ranking(answer: Any) -> list[tuple[str, float]]:
    return [(c.site_id, approx(c.score)) for c in answer.candidates]


US = frozenset({"us"})


def test_free_gpus_health_energy_and_exclusions(store: CountingStore) -> None:
    answer = placement(store, PlacementRequest(3, allowed_jurisdictions=US, at_us=AT), NOW)
    a_parts = ScoreParts(gpu=0.5, health=0.5, model=0, data=0, energy=approx(ENERGY_A),
                         region=0)
    b_parts = ScoreParts(gpu=1.0, health=0.5, model=0, data=0, energy=approx(ENERGY_B),
                         region=0)
    assert answer.candidates == [
        Candidate("site:b", approx(score(1, 0.5, 0, 0, ENERGY_B, 0)), 9, b_parts,
                  (ServerGpus("server:b-r2-n1", tuple(f"gpu:b-r2-n1-g{g}" for g in range(8))),
                   ServerGpus("server:b-r2-n2", ("gpu:b-r2-n2-g0",)))),
        Candidate("site:a", approx(score(0.5, 0.5, 0, 0, ENERGY_A, 0)), 3, a_parts,
                  (ServerGpus("server:a-r1-n1", ("gpu:a-r1-n1-g1", "gpu:a-r1-n1-g2",
                                                 "gpu:a-r1-n1-g3")),)),
    ]
    assert answer.at_us == AT
    excluded = {e.site_id: ([r.code for r in e.reasons], e.free_gpus) for e in answer.excluded}
    assert excluded == {
        "site:c": (["jurisdiction"], 8),
        "site:d": (["capacity"], 2),  # server:d-r1-n2 is in fault
        "site:e": (["capacity", "jurisdiction"], 1),  # no jurisdiction at all
        "site:f": (["capacity"], 0),  # its only switch is in fault: the rack is down
        "site:g": (["capacity"], 0),  # the site itself is in fault
    }
    assert [e.site_id for e in answer.excluded] == sorted(excluded)
    c, d, e = answer.excluded[0], answer.excluded[1], answer.excluded[2]
    assert c.reasons == [Reason("jurisdiction", "jurisdiction 'de' is not among the allowed "
                                "(us)")]
    assert d.reasons == [Reason("capacity", "2 free GPUs, 3 needed")]
    assert e.reasons[1].detail == "no jurisdiction is not among the allowed (us)"


def test_without_allowed_jurisdictions_every_site_with_room_is_a_candidate(
    store: CountingStore,
) -> None:
    answer = placement(store, PlacementRequest(3, at_us=AT), NOW)
    # site:c: 8 free of 3 (gpu 1), its one rack healthy, no energy data
    assert ranking(answer) == [
        ("site:c", score(1, 1, 0, 0, 0, 0)),
        ("site:b", score(1, 0.5, 0, 0, ENERGY_B, 0)),
        ("site:a", score(0.5, 0.5, 0, 0, ENERGY_A, 0)),
    ]
    assert {e.site_id: [r.code for r in e.reasons] for e in answer.excluded} == {
        "site:d": ["capacity"], "site:e": ["capacity"], "site:f": ["capacity"],
        "site:g": ["capacity"],
    }
    # an empty list of allowed jurisdictions is given: it allows none
    nowhere = placement(store, PlacementRequest(1, allowed_jurisdictions=(), at_us=AT), NOW)
    assert nowhere.candidates == []
    assert all(e.reasons[-1].code == "jurisdiction" for e in nowhere.excluded)


def test_model_hotness_data_locality_and_region_shift_the_ranking(store: CountingStore) -> None:
    def ask(**kwargs: Any) -> list[tuple[str, float]]:
        request = PlacementRequest(3, allowed_jurisdictions=US, at_us=AT, **kwargs)
        return ranking(placement(store, request, NOW))

    # the model is hot only at a: a's model part is 1 (its own score over the best)
    assert ask(model_id="model:m") == [
        ("site:a", score(0.5, 0.5, 1, 0, ENERGY_A, 0)),
        ("site:b", score(1, 0.5, 0, 0, ENERGY_B, 0)),
    ]
    # ds1 is held at b at AT; ds2's replica there was evicted at 5 h: b holds 1 of 2,
    # not enough (0.533 against a's 0.57); holding the only dataset asked for is (0.608)
    assert ask(model_id="model:m", dataset_ids=("dataset:ds1", "dataset:ds2")) == [
        ("site:a", score(0.5, 0.5, 1, 0, ENERGY_A, 0)),
        ("site:b", score(1, 0.5, 0, 0.5, ENERGY_B, 0)),
    ]
    assert ask(model_id="model:m", dataset_ids=("dataset:ds1",)) == [
        ("site:b", score(1, 0.5, 0, 1, ENERGY_B, 0)),
        ("site:a", score(0.5, 0.5, 1, 0, ENERGY_A, 0)),
    ]
    # a (west) gets +0.05: 0.62 against b's 0.6083
    assert ask(model_id="model:m", dataset_ids=("dataset:ds1",), preferred_region="west") == [
        ("site:a", score(0.5, 0.5, 1, 0, ENERGY_A, 1)),
        ("site:b", score(1, 0.5, 0, 1, ENERGY_B, 0)),
    ]
    # a model nobody caches, or one the graph does not know: hot nowhere
    assert ask(model_id="model:unknown")[0][0] == "site:b"


def test_model_part_is_relative_to_the_best_site(store: CountingStore) -> None:
    w = Writer(store)
    w.edge("cached_at", "artifact:sha256-w", "site:b", 2, tier=1, last_access=AT - 1)
    answer = placement(store, PlacementRequest(3, model_id="model:m", at_us=AT), NOW)
    parts = {c.site_id: c.parts.model for c in answer.candidates}
    assert parts == {"site:a": 1.0, "site:b": pytest.approx(0.5), "site:c": 0.0}


def test_the_fleet_as_of_an_earlier_time(store: CountingStore) -> None:
    # At 4 h cdu:a-c2 is fine (its fault opens at 5 h): rack:a-r2 is healthy and its 4
    # GPUs are free; g0 and g1 of a-r1-n1 are both allocated then.
    answer = placement(store, PlacementRequest(3, at_us=t(4)), NOW)
    a = next(c for c in answer.candidates if c.site_id == "site:a")
    assert (a.free_gpus, a.parts.health) == (6, 1.0)
    assert [s.server_id for s in a.servers] == ["server:a-r1-n1", "server:a-r2-n1"]
    # before site:g's fault (8 h) its rack is healthy and its 4 GPUs free
    g = next(c for c in answer.candidates if c.site_id == "site:g")
    assert (g.free_gpus, g.parts.health) == (4, 1.0)
    # without a time: now (T0 + 24 h), when g1 of a-r1-n1 is free again too
    later = placement(store, PlacementRequest(3), NOW)
    assert later.at_us == NOW
    assert next(c for c in later.candidates if c.site_id == "site:a").free_gpus == 3


def test_errors(store: CountingStore) -> None:
    with pytest.raises(InvalidArgument, match="at least 1"):
        placement(store, PlacementRequest(0), NOW)
    with pytest.raises(InvalidArgument, match="not a model id"):
        placement(store, PlacementRequest(1, model_id="dataset:ds1"), NOW)
    with pytest.raises(InvalidArgument, match="not a dataset"):
        placement(store, PlacementRequest(1, dataset_ids=("site:a",)), NOW)


def test_pick_gpus_packs_few_servers() -> None:
    servers = [
        ServerGpus("server:x1", ("gpu:x1-g0", "gpu:x1-g1", "gpu:x1-g2", "gpu:x1-g3")),
        ServerGpus("server:x2", ("gpu:x2-g0", "gpu:x2-g1")),
        ServerGpus("server:x3", ("gpu:x3-g0",)),
    ]
    # one server fits: the smallest that does
    assert pick_gpus(servers, 2) == [ServerGpus("server:x2", ("gpu:x2-g0", "gpu:x2-g1"))]
    assert pick_gpus(servers, 3) == [
        ServerGpus("server:x1", ("gpu:x1-g0", "gpu:x1-g1", "gpu:x1-g2"))
    ]
    # none fits: the biggest first, sorted by server id in the answer
    assert pick_gpus(servers, 6) == [servers[0], servers[1]]
    assert pick_gpus(servers, 99) == servers
    # claimed GPUs are left out
    assert pick_gpus(servers, 2, skip={"gpu:x2-g0"}) == [
        ServerGpus("server:x1", ("gpu:x1-g0", "gpu:x1-g1"))
    ]


QUERY = """
query ($r: PlacementInput!, $first: Int, $limit: Int, $exclude: [ID!]) {
  placement(request: $r) {
    at
    candidates(first: $first) {
      siteId score freeGpuCount site { region jurisdiction }
      parts { gpu health model data energy region }
      freeGpus(limit: $limit, exclude: $exclude) { serverId gpuIds server { id } }
    }
    excluded { siteId freeGpuCount reasons { code detail } }
  }
}"""


def test_graphql(store: CountingStore, gql_on: Any) -> None:
    gql = gql_on(store)
    request = {"gpus": 3, "allowedJurisdictions": ["us"], "modelId": "model:m",
               "datasetIds": ["dataset:ds1"], "preferredRegion": "west",
               "at": datetime.fromtimestamp(AT / 1e6, tz=UTC).isoformat()}
    data = gql(QUERY, {"r": request})["placement"]
    assert data["at"] == request["at"]
    a, b = data["candidates"]
    assert (a["siteId"], a["score"]) == ("site:a", pytest.approx(score(0.5, 0.5, 1, 0, 0.7, 1)))
    assert a["site"] == {"region": "west", "jurisdiction": "us"}
    assert a["parts"] == {"gpu": 0.5, "health": 0.5, "model": 1.0, "data": 0.0,
                          "energy": pytest.approx(0.7), "region": 1.0}
    # by default, as many GPUs as asked for: on one server when one has enough
    assert a["freeGpus"] == [{"serverId": "server:a-r1-n1", "server": {"id": "server:a-r1-n1"},
                              "gpuIds": ["gpu:a-r1-n1-g1", "gpu:a-r1-n1-g2",
                                         "gpu:a-r1-n1-g3"]}]
    assert (b["siteId"], b["freeGpuCount"]) == ("site:b", 9)
    assert [g["serverId"] for g in b["freeGpus"]] == ["server:b-r2-n1"]
    assert data["excluded"][0] == {
        "siteId": "site:c", "freeGpuCount": 8,
        "reasons": [{"code": "JURISDICTION",
                     "detail": "jurisdiction 'de' is not among the allowed (us)"}],
    }
    assert [[r["code"] for r in e["reasons"]] for e in data["excluded"]] == [
        ["JURISDICTION"], ["CAPACITY"], ["CAPACITY", "JURISDICTION"], ["CAPACITY"], ["CAPACITY"]
    ]

    # the best candidate only; one GPU, leaving out a claimed one
    data = gql(QUERY, {"r": {"gpus": 1, "at": request["at"]}, "first": 1, "limit": 1,
                       "exclude": ["gpu:c-r1-n1-g0"]})["placement"]
    [c] = data["candidates"]
    assert c["siteId"] == "site:c"
    assert c["freeGpus"] == [{"serverId": "server:c-r1-n1", "server": {"id": "server:c-r1-n1"},
                              "gpuIds": ["gpu:c-r1-n1-g1"]}]


def test_graphql_errors(store: CountingStore, gql_on: Any) -> None:
    gql = gql_on(store)
    assert gql.errors(QUERY, {"r": {"gpus": 0}}) == ["gpus must be at least 1, got 0"]
    errors = gql.errors(QUERY, {"r": {"gpus": 1}, "limit": 0})
    assert set(errors) == {"'limit' must be at least 1, got 0"}


# --- store calls -------------------------------------------------------------------------


def build_wide(w: Writer, sites: int, racks: int, servers: int, gpus: int) -> None:
    """``sites`` sites of ``racks`` racks (each with its CDU and shelf), ``servers``
    servers a rack, ``gpus`` GPUs a server; every first GPU allocated."""
    w.node("model:m")
    w.node("artifact:sha256-w", kind="weights")
    w.edge("artifact_of", "artifact:sha256-w", "model:m")
    for s in range(sites):
        site = f"site:w{s:03d}"
        w.node(site, jurisdiction="us", region="west")
        w.edge("cached_at", "artifact:sha256-w", site, 2, tier=0, last_access=AT - H)
        w.edge("cached_at", "dataset:ds1", site, 2, tier=0)
        for r in range(racks):
            rack = f"rack:w{s:03d}-r{r}"
            w.rack(site, rack, {f"server:w{s:03d}-r{r}-n{n}": gpus for n in range(servers)})
            for part, edge in ((f"cdu:w{s:03d}-c{r}", "cooled_by"),
                               (f"power_shelf:w{s:03d}-p{r}", "powered_by")):
                w.part(site, part)
                w.edge(edge, rack, part)
            for n in range(servers):
                w.edge("allocated", "job:x", f"gpu:w{s:03d}-r{r}-n{n}-g0", 1)


def reads(store: CountingStore) -> list[tuple[str, object]]:
    return [(m, d[0] if m in ("neighbours", "scan_nodes") else None) for m, d in store.log]


@pytest.mark.parametrize(("sites", "racks", "servers", "gpus"),
                         [(1, 1, 1, 2), (4, 2, 2, 4), (12, 3, 4, 8)])
def test_store_calls_do_not_grow_with_the_fleet(
    gql_on: Any, sites: int, racks: int, servers: int, gpus: int
) -> None:
    store = CountingStore(SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW))
    build_wide(Writer(store), sites, racks, servers, gpus)
    store.reset()
    request = PlacementRequest(1, model_id="model:m", dataset_ids=("dataset:ds1",),
                               allowed_jurisdictions=US, at_us=AT)
    answer = placement(store, request, NOW)
    assert len(answer.candidates) == sites
    assert {c.free_gpus for c in answer.candidates} == {racks * servers * (gpus - 1)}
    assert reads(store) == [
        ("scan_nodes", "site"),
        ("neighbours", "in_site"),  # the fleet state (blast_radius.fleet_state)
        ("neighbours", "attached_to"),
        ("neighbours", "in_rack"),
        ("neighbours", "cooled_by"),
        ("neighbours", "powered_by"),
        ("neighbours", "in_server"),
        ("neighbours", "had_fault"),
        ("neighbours", "allocated"),  # free GPUs
        ("get_read_models", None),  # modelHotness: the model's ranking row (none here)
        ("get_nodes", None),  # then the model, its artifacts, their replicas
        ("neighbour_ids", None),  # artifact_of
        ("get_read_models", None),  # the artifacts' replicas rows (none here)
        ("neighbours", "cached_at"),
        ("neighbours", "cached_at"),  # the datasets' replicas
    ]
    # each read asks for every id of its hop at once
    sizes = {d[0]: d[2] for m, d in store.log if m == "neighbours"}
    assert sizes["in_site"] == sites
    assert sizes["in_server"] == sites * racks * servers
    store.reset()
    data = gql_on(store)(
        """query ($at: DateTime) { placement(request: {gpus: 1, modelId: "model:m",
              datasetIds: ["dataset:ds1"], allowedJurisdictions: ["us"], at: $at}) {
            candidates { siteId site { id region } freeGpus { serverId server { id } } }
            excluded { siteId site { id } } } }""",
        {"at": datetime.fromtimestamp(AT / 1e6, tz=UTC).isoformat()},
    )["placement"]
    assert len(data["candidates"]) == sites
    # the same reads, plus the nodes of all the sites and servers: one get_nodes when
    # the loader batches them together, two at most
    assert store.calls["scan_nodes"] == 1 and store.calls["neighbours"] == 10
    assert store.calls["neighbour_ids"] == 1
    assert store.calls["get_nodes"] in (2, 3)  # the model's, then the loaders'
    assert set(store.calls) == {"scan_nodes", "neighbours", "neighbour_ids", "get_nodes",
                                "get_read_models"}  # the artifacts' replicas rows
    store.close()


def test_excluded_sites_answer_as_the_ordinary_executor(
    store: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The excluded sites and their reasons (a list of objects inside a list of objects)
    are completed in one loop by serving.execution, with the answer, errors and role
    refusals of the ordinary executor, and the loop ran."""
    import asyncio

    from fleetgraph.serving.access import ROLES
    from fleetgraph.serving.context import new_context
    from fleetgraph.serving.execution import FleetExecutionContext
    from fleetgraph.serving.schema import build_schema

    loops: list[int] = []
    plain_list = FleetExecutionContext._plain_list

    def counted(self: FleetExecutionContext, *args: Any) -> Any:
        loops.append(1)
        return plain_list(self, *args)

    monkeypatch.setattr(FleetExecutionContext, "_plain_list", counted)
    at = datetime.fromtimestamp(AT / 1e6, tz=UTC).isoformat()
    document = """query ($r: PlacementInput!) { placement(request: $r) {
        candidates(first: 1) { siteId }
        excluded { siteId freeGpuCount reasons { detail code } again: reasons { code } } } }"""
    variables = {"r": {"gpus": 3, "allowedJurisdictions": ["us"], "at": at}}

    def answer(schema: Any, role: str) -> tuple[Any, list[Any]]:
        async def run() -> Any:
            return await schema.execute(document, variable_values=variables,
                                        context_value=new_context(store, clock=lambda: NOW,
                                                                  role=role))
        result = asyncio.run(run())
        return result.data, sorted((e.formatted for e in result.errors or []), key=repr)

    plain, ordinary = build_schema(), build_schema(plain_leaves=False)
    for role in ROLES:
        loops.clear()
        got = answer(plain, role)
        assert got == answer(ordinary, role), role
        if got[0] is not None:
            assert len(got[0]["placement"]["excluded"]) == 5
            assert list(got[0]["placement"]["excluded"][0]) == [
                "siteId", "freeGpuCount", "reasons", "again"]
            assert len(loops) == 10  # two lists of reasons a site, without the executor
