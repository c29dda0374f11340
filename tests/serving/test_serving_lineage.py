"""lineage UP and DOWN on a hand-built data world, answers worked out by hand.

    dataset:raw --read--> job:prep (ran at site:eu1, de; user:ana, application:etl)
    job:prep --produced--> dataset:clean;  dataset:clean --derived_from--> dataset:raw
    dataset:clean --read--> job:train (ran at site:us1, us; used_model model:base;
                                       user:ana, application:ml)
    job:train --produced--> artifact:sha256-ckpt (checkpoint, artifact_of model:tuned)
    model:tuned --derived_from--> model:base
    artifact:sha256-ckpt --read--> job:eval (ran at site:eu1; used_model model:tuned;
                                             user:bob, application:qa)
    job:eval --produced--> artifact:sha256-report

(``a --read--> j`` is the edge ``read`` j -> a: the job read a.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries.lineage import LineageNode, lineage
from fleetgraph.storage.embedded import SQLiteGraphStore

T = 1_790_000_000_000_000
RAW, CLEAN = "dataset:raw", "dataset:clean"
CKPT, REPORT = "artifact:sha256-ckpt", "artifact:sha256-report"


class Writer:
    def __init__(self, store: CountingStore) -> None:
        self.store = store
        self.n = 0

    def _prov(self) -> Provenance:
        self.n += 1
        return Provenance(f"ev{self.n}", f"jobs/0/{self.n}", T, "lineage-test")

    def node(self, node_id: str, **props: Any) -> None:
        kind = node_id.split(":", 1)[0]
        self.store.upsert_nodes([NodeUpsert(kind, node_id, props, T, self._prov())])

    def edge(self, edge_type: str, a: str, b: str, **props: Any) -> None:
        self.store.upsert_edges([EdgeUpsert(edge_type, a, b, props, T, self._prov())])


def job(w: Writer, job_id: str, site: str, user: str, app: str, reads: list[str],
        produces: list[str], model: str | None = None) -> None:
    w.node(job_id, site_id=site, status="finished")
    w.edge("launched_by", job_id, user)
    w.edge("owned_by", job_id, app)
    if model is not None:
        w.edge("used_model", job_id, model)
    for item in reads:
        w.edge("read", job_id, item, at=T)
    for item in produces:
        w.edge("produced", job_id, item, at=T)


def build(w: Writer) -> None:
    w.node("site:eu1", jurisdiction="de", region="central")
    w.node("site:us1", jurisdiction="us", region="east")
    for user in ("user:ana", "user:bob"):
        w.node(user)
    for app in ("application:etl", "application:ml", "application:qa"):
        w.node(app)
    for item in (RAW, CLEAN, CKPT, REPORT, "model:base", "model:tuned"):
        w.node(item)
    job(w, "job:prep", "site:eu1", "user:ana", "application:etl", [RAW], [CLEAN])
    w.edge("derived_from", CLEAN, RAW)
    job(w, "job:train", "site:us1", "user:ana", "application:ml", [CLEAN], [CKPT],
        "model:base")
    w.edge("artifact_of", CKPT, "model:tuned")
    w.edge("derived_from", "model:tuned", "model:base")
    job(w, "job:eval", "site:eu1", "user:bob", "application:qa", [CKPT], [REPORT],
        "model:tuned")


@pytest.fixture
def store() -> Iterator[CountingStore]:
    counted = CountingStore(SQLiteGraphStore(FLEET, ":memory:"))
    build(Writer(counted))
    counted.reset()
    yield counted
    counted.close()


def nodes(answer: Any) -> list[tuple[str, int]]:
    return [(n.id, n.distance) for n in answer.nodes]


def edges(answer: Any) -> list[tuple[int, str, str, str]]:
    return [(e.distance, e.type, e.from_id, e.to_id) for e in answer.edges]


def test_up_from_an_artifact(store: CountingStore) -> None:
    answer = lineage(store, REPORT, "UP")
    assert nodes(answer) == [
        (REPORT, 0),
        ("job:eval", 1),  # produced it
        ("application:qa", 2), (CKPT, 2), ("model:tuned", 2), ("site:eu1", 2),
        ("user:bob", 2),
        ("job:train", 3), ("jurisdiction:de", 3), ("model:base", 3),
        ("application:ml", 4), (CLEAN, 4), ("site:us1", 4), ("user:ana", 4),
    ]
    assert sorted(nodes(answer), key=lambda n: (n[1], n[0])) == nodes(answer)
    assert edges(answer) == [
        (1, "produced", "job:eval", REPORT),
        (2, "launched_by", "job:eval", "user:bob"),
        (2, "owned_by", "job:eval", "application:qa"),
        (2, "ran_at", "job:eval", "site:eu1"),
        (2, "read", "job:eval", CKPT),
        (2, "used_model", "job:eval", "model:tuned"),
        # the checkpoint's model was reached at 2 already: the edge is still walked
        (3, "artifact_of", CKPT, "model:tuned"),
        (3, "derived_from", "model:tuned", "model:base"),
        (3, "in_jurisdiction", "site:eu1", "jurisdiction:de"),
        (3, "produced", "job:train", CKPT),
        (4, "launched_by", "job:train", "user:ana"),
        (4, "owned_by", "job:train", "application:ml"),
        (4, "ran_at", "job:train", "site:us1"),
        (4, "read", "job:train", CLEAN),
        (4, "used_model", "job:train", "model:base"),
    ]
    assert answer.truncated is False
    # stored edges carry their provenance; the property steps have none
    by_type = {e.type: e for e in answer.edges}
    assert by_type["produced"].origin is not None
    assert by_type["produced"].origin.latest.source.startswith("jobs/0/")
    assert by_type["ran_at"].origin is None


def test_up_at_other_depths(store: CountingStore) -> None:
    assert nodes(lineage(store, REPORT, "UP", depth=0)) == [(REPORT, 0)]
    two = lineage(store, REPORT, "UP", depth=2)
    assert [n for n, d in nodes(two)] == [
        REPORT, "job:eval", "application:qa", CKPT, "model:tuned", "site:eu1", "user:bob"
    ]
    assert {d for d, *_ in edges(two)} == {1, 2}
    six = lineage(store, REPORT, "UP", depth=6)
    assert nodes(six)[-4:] == [
        (RAW, 5), ("job:prep", 5), ("jurisdiction:us", 5), ("application:etl", 6)
    ]
    assert (6, "ran_at", "job:prep", "site:eu1") in edges(six)  # eu1 reached at 2
    assert len(nodes(lineage(store, REPORT, "UP", depth=10))) == len(nodes(six))


def test_up_from_a_job_and_a_site(store: CountingStore) -> None:
    answer = lineage(store, "job:prep", "UP", depth=2)
    assert nodes(answer) == [
        ("job:prep", 0),
        ("application:etl", 1), (RAW, 1), ("site:eu1", 1), ("user:ana", 1),
        ("jurisdiction:de", 2),
    ]
    assert nodes(lineage(store, "site:us1", "UP")) == [("site:us1", 0), ("jurisdiction:us", 1)]


def test_down_from_a_dataset(store: CountingStore) -> None:
    answer = lineage(store, RAW, "DOWN", depth=10)
    assert nodes(answer) == [
        (RAW, 0),
        (CLEAN, 1), ("job:prep", 1),  # derived from it; read it
        ("job:train", 2),
        (CKPT, 3),
        ("job:eval", 4),
        (REPORT, 5),
    ]
    assert edges(answer) == [
        (1, "derived_from", CLEAN, RAW),
        (1, "read", "job:prep", RAW),
        (2, "produced", "job:prep", CLEAN),  # to a node reached at 1
        (2, "read", "job:train", CLEAN),
        (3, "produced", "job:train", CKPT),
        (4, "read", "job:eval", CKPT),
        (5, "produced", "job:eval", REPORT),
    ]
    assert nodes(lineage(store, RAW, "DOWN", depth=2))[-1] == ("job:train", 2)


def test_down_from_a_model(store: CountingStore) -> None:
    answer = lineage(store, "model:base", "DOWN", depth=2)
    assert nodes(answer) == [
        ("model:base", 0),
        ("job:train", 1), ("model:tuned", 1),  # used it; derived from it
        (CKPT, 2), ("job:eval", 2),  # train produced it / tuned's artifact; used tuned
    ]
    assert edges(answer) == [
        (1, "derived_from", "model:tuned", "model:base"),
        (1, "used_model", "job:train", "model:base"),
        (2, "artifact_of", CKPT, "model:tuned"),
        (2, "produced", "job:train", CKPT),
        (2, "used_model", "job:eval", "model:tuned"),
    ]


def test_the_node_limit_cuts_honestly(store: CountingStore) -> None:
    answer = lineage(store, REPORT, "UP", limit=3)
    # hop 2 reaches 5 new nodes with room for 1: the first by id is kept
    assert nodes(answer) == [(REPORT, 0), ("job:eval", 1), ("application:qa", 2)]
    assert edges(answer) == [
        (1, "produced", "job:eval", REPORT),
        (2, "owned_by", "job:eval", "application:qa"),
    ]
    assert answer.truncated is True
    exact = lineage(store, REPORT, "UP", depth=2, limit=7)  # exactly what depth 2 reaches
    assert (len(exact.nodes), exact.truncated) == (7, False)


def test_errors(store: CountingStore) -> None:
    with pytest.raises(NotFound, match="dataset:nope"):
        lineage(store, "dataset:nope", "UP")
    with pytest.raises(NotFound):
        lineage(store, "dataset:nope", "DOWN", depth=0)
    with pytest.raises(InvalidArgument, match="depth"):
        lineage(store, RAW, "UP", depth=11)
    with pytest.raises(InvalidArgument, match="direction"):
        lineage(store, RAW, "SIDEWAYS")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="pseudo-node"):
        lineage(store, "jurisdiction:de", "UP")
    with pytest.raises(InvalidArgument, match="not a fleetgraph id"):
        lineage(store, "no id", "UP")
    # an item known only from an edge (never registered) still has a lineage
    w = Writer(store)
    w.edge("read", "job:prep", "dataset:unregistered", at=T)
    assert nodes(lineage(store, "dataset:unregistered", "DOWN", depth=1)) == [
        ("dataset:unregistered", 0), ("job:prep", 1)
    ]


def test_store_reads_per_hop_do_not_grow_with_the_fan_out() -> None:
    def run(jobs: int, outputs: int) -> list[tuple[str, object]]:
        store = CountingStore(SQLiteGraphStore(FLEET, ":memory:"))
        w = Writer(store)
        w.node("dataset:src")
        for j in range(jobs):
            w.node(f"job:j{j}", site_id=f"site:s{j}")
            w.edge("read", f"job:j{j}", "dataset:src", at=T)
            for o in range(outputs):
                w.edge("produced", f"job:j{j}", f"artifact:sha256-{j}-{o}", at=T)
        store.reset()
        answer = lineage(store, "dataset:src", "DOWN", depth=3)
        assert len(answer.nodes) == 1 + jobs + jobs * outputs
        log = [(m, d[0] if m == "neighbours" else None) for m, d in store.log]
        store.close()
        return log

    expected = [
        ("get_nodes", None),  # the start
        ("neighbours", "read"), ("neighbours", "derived_from"),  # hop 1, the dataset
        ("neighbours", "produced"),  # hop 2, all the jobs
        ("neighbours", "read"), ("neighbours", "derived_from"),  # hop 3, all the outputs
    ]
    assert run(1, 1) == run(20, 5) == expected


def test_graphql(store: CountingStore, gql_on: Any) -> None:
    data = gql_on(store)(
        """{ lineage(id: "artifact:sha256-report", direction: UP, depth: 3) {
              truncated
              nodes { id distance node { id type } }
              edges { type fromId toId distance from { id } to { id }
                      origin { createdBy latest { source } } }
        } }"""
    )["lineage"]
    assert data["truncated"] is False
    assert data["nodes"][:2] == [
        {"id": REPORT, "distance": 0, "node": {"id": REPORT, "type": "artifact"}},
        {"id": "job:eval", "distance": 1, "node": {"id": "job:eval", "type": "job"}},
    ]
    jurisdiction = next(n for n in data["nodes"] if n["id"] == "jurisdiction:de")
    assert jurisdiction == {"id": "jurisdiction:de", "distance": 3, "node": None}
    first = data["edges"][0]
    assert first["type"] == "produced" and first["from"] == {"id": "job:eval"}
    assert first["origin"]["latest"]["source"].startswith("jobs/0/")
    step = next(e for e in data["edges"] if e["type"] == "in_jurisdiction")
    assert (step["to"], step["origin"]) == (None, None)

    down = gql_on(store)(
        '{ lineage(id: "dataset:raw", direction: DOWN) { nodes { id distance } } }'
    )["lineage"]
    assert [LineageNode(n["id"], n["distance"]) for n in down["nodes"]][-1] == LineageNode(
        "job:eval", 4
    )
    assert gql_on(store).errors(
        '{ lineage(id: "dataset:raw", direction: UP, depth: 11) { truncated } }'
    ) == ["depth must be between 0 and 10, got 11"]


def test_a_job_without_site_id_ran_where_its_servers_were(store: CountingStore) -> None:
    # job:placed has no site_id (the pipeline did not know its servers): it ran on
    # server:m-n1 from T + 1 h, in rack:m-r1, which moved from site:us1 to site:eu1
    # at T, and on server:m-n2 (rack:m-r2, in site:us1) from T + 2 h.
    h = 3_600_000_000
    w = Writer(store)
    w.node("job:placed", status="running")
    w.edge("read", "job:placed", RAW, at=T)
    w.edge("ran_on", "job:placed", "server:m-n1", valid_from=T + h, gpus=1)
    w.edge("ran_on", "job:placed", "server:m-n2", valid_from=T + 2 * h, gpus=1)
    w.edge("ran_on", "job:placed", "server:m-n3")  # no start: no site
    w.edge("in_rack", "server:m-n1", "rack:m-r1", valid_from=T - 10 * h)
    w.edge("in_rack", "server:m-n2", "rack:m-r2", valid_from=T - 10 * h)
    w.edge("in_site", "rack:m-r1", "site:us1", valid_from=T - 10 * h, valid_to=T)
    w.edge("in_site", "rack:m-r1", "site:eu1", valid_from=T)
    w.edge("in_site", "rack:m-r2", "site:us1", valid_from=T - 10 * h)
    store.reset()
    answer = lineage(store, "job:placed", "UP", depth=1)
    assert nodes(answer) == [("job:placed", 0), (RAW, 1), ("site:eu1", 1), ("site:us1", 1)]
    assert [e for e in edges(answer) if e[1] == "ran_at"] == [
        (1, "ran_at", "job:placed", "site:eu1"), (1, "ran_at", "job:placed", "site:us1")
    ]
    reads = [d[0] if m == "neighbours" else m for m, d in store.log]
    assert reads == ["get_nodes", "ran_on", "in_rack", "in_site",
                     "read", "used_model", "launched_by", "owned_by"]
