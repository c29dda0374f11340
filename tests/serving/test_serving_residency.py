"""dataResidency on a hand-built data world, answers worked out by hand.

    dataset:raw   read by job:prep (ran at site:eu1, de), held at site:eu1 [0h, open)
                  and at site:us1 (us) [2h, 5h) -- a replica outside the EU
    job:prep      produced dataset:clean (derived_from dataset:raw)
    dataset:clean read by job:train, which ran at site:us1 -- processed outside the EU
                  and by job:queued (never placed: no site)
    job:train     produced artifact:sha256-ckpt, held at site:eu1 [6h, open)
    artifact:sha256-ckpt read by job:eval (site:eu1), which produced artifact:sha256-report
    artifact:sha256-report held at site:x1 (a site without a jurisdiction) [7h, open)
    dataset:other read by job:other at site:us1 (not lineage of dataset:raw)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance
from fleetgraph.serving.errors import InvalidArgument, NotFound
from fleetgraph.serving.instrumentation import CountingStore
from fleetgraph.serving.queries.residency import Place, data_residency
from fleetgraph.storage.embedded import SQLiteGraphStore

T = 1_795_219_200_000_000  # 2026-11-21 00:00 UTC
H = 3_600_000_000
NOW = T + 24 * H  # the store's clock (replicas expire 30 days after their last write)
RAW, CLEAN = "dataset:raw", "dataset:clean"
CKPT, REPORT = "artifact:sha256-ckpt", "artifact:sha256-report"


class Writer:
    def __init__(self, store: CountingStore) -> None:
        self.store = store
        self.n = 0

    def _prov(self) -> Provenance:
        self.n += 1
        return Provenance(f"ev{self.n}", f"jobs/0/{self.n}", T, "residency-test")

    def node(self, node_id: str, **props: Any) -> None:
        kind = node_id.split(":", 1)[0]
        self.store.upsert_nodes([NodeUpsert(kind, node_id, props, T, self._prov())])

    def edge(self, edge_type: str, a: str, b: str, **props: Any) -> None:
        self.store.upsert_edges([EdgeUpsert(edge_type, a, b, props, T, self._prov())])

    def job(self, job_id: str, site: str | None, reads: list[str], produces: list[str]) -> None:
        self.node(job_id, **({"site_id": site} if site else {}))
        for item in reads:
            self.edge("read", job_id, item, at=T)
        for item in produces:
            self.edge("produced", job_id, item, at=T)

    def replica(self, item: str, site: str, start: int, end: int | None = None) -> None:
        props: dict[str, Any] = {"valid_from": T + start * H, "tier": 1}
        if end is not None:
            props["valid_to"] = T + end * H
        self.edge("cached_at", item, site, **props)


def build(w: Writer) -> None:
    w.node("site:eu1", jurisdiction="de")
    w.node("site:us1", jurisdiction="us")
    w.node("site:x1")
    for item in (RAW, CLEAN, CKPT, REPORT, "dataset:other"):
        w.node(item)
    w.job("job:prep", "site:eu1", [RAW], [CLEAN])
    w.edge("derived_from", CLEAN, RAW)
    w.job("job:train", "site:us1", [CLEAN], [CKPT])
    w.job("job:queued", None, [CLEAN], [])
    w.job("job:eval", "site:eu1", [CKPT], [REPORT])
    w.job("job:other", "site:us1", ["dataset:other"], [])
    w.replica(RAW, "site:eu1", 0)
    w.replica(RAW, "site:us1", 2, 5)
    w.replica(CKPT, "site:eu1", 6)
    w.replica(REPORT, "site:x1", 7)


@pytest.fixture
def store() -> Iterator[CountingStore]:
    counted = CountingStore(SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW))
    build(Writer(counted))
    counted.reset()
    yield counted
    counted.close()


def test_places_and_violations(store: CountingStore) -> None:
    answer = data_residency(store, RAW, {"de"})
    assert answer.items == [CKPT, REPORT, CLEAN, RAW]
    ckpt_eu1 = Place(CKPT, "site:eu1", "de", ["job:eval"], True, T + 6 * H, None)
    report_x1 = Place(REPORT, "site:x1", None, [], True, T + 7 * H, None)
    clean_us1 = Place(CLEAN, "site:us1", "us", ["job:train"], False, None, None)
    raw_eu1 = Place(RAW, "site:eu1", "de", ["job:prep"], True, T, None)
    raw_us1 = Place(RAW, "site:us1", "us", [], True, T + 2 * H, T + 5 * H)
    assert answer.places == [ckpt_eu1, report_x1, clean_us1, raw_eu1, raw_us1]
    # processed in the US by job:train; held in the US by a replica; held at a site
    # without a jurisdiction (never allowed)
    assert answer.violations == [report_x1, clean_us1, raw_us1]
    assert answer.truncated is False


def test_allowed_jurisdictions_decide_the_violations(store: CountingStore) -> None:
    assert data_residency(store, RAW, {"de", "us"}).violations == [
        Place(REPORT, "site:x1", None, [], True, T + 7 * H, None)
    ]
    everywhere_else = data_residency(store, RAW, set()).violations
    assert len(everywhere_else) == 5


def test_from_further_down_the_lineage(store: CountingStore) -> None:
    answer = data_residency(store, CLEAN, ["de"])
    assert answer.items == [CKPT, REPORT, CLEAN]
    assert [(p.item_id, p.site_id) for p in answer.violations] == [
        (REPORT, "site:x1"), (CLEAN, "site:us1")
    ]


def test_processing_and_holding_at_one_site_make_one_place(store: CountingStore) -> None:
    Writer(store).job("job:audit", "site:eu1", [CKPT], [])
    answer = data_residency(store, CKPT, ["de"])
    assert answer.places[0] == Place(
        CKPT, "site:eu1", "de", ["job:audit", "job:eval"], True, T + 6 * H, None
    )


def test_cycles_and_the_item_limit(store: CountingStore) -> None:
    w = Writer(store)
    w.job("job:loop", "site:eu1", [REPORT], [RAW])  # the report feeds back into raw
    answer = data_residency(store, RAW, ["de"])
    assert answer.items == [CKPT, REPORT, CLEAN, RAW]
    cut = data_residency(store, RAW, ["de"], limit=2)
    assert (cut.items, cut.truncated) == ([CLEAN, RAW], True)


def test_errors(store: CountingStore) -> None:
    with pytest.raises(NotFound, match="dataset:nope"):
        data_residency(store, "dataset:nope", ["de"])
    with pytest.raises(InvalidArgument, match="not a dataset"):
        data_residency(store, "site:eu1", ["de"])


def test_store_reads_grow_with_the_lineage_depth_only() -> None:
    def run(jobs: int) -> list[tuple[str, object]]:
        store = CountingStore(SQLiteGraphStore(FLEET, ":memory:", clock=lambda: NOW))
        w = Writer(store)
        w.node("site:s", jurisdiction="de")
        w.node("dataset:src")
        for j in range(jobs):
            w.job(f"job:j{j}", "site:s", ["dataset:src"], [f"artifact:sha256-{j}"])
            w.replica(f"artifact:sha256-{j}", "site:s", 1)
        store.reset()
        answer = data_residency(store, "dataset:src", ["de"])
        assert len(answer.places) == 1 + jobs
        log = [(m, d[1] if m == "node_values" else d[0] if m.startswith("neighbour")
                else None) for m, d in store.log]
        store.close()
        return log

    expected = [
        ("get_read_models", None),  # the dataset's residency header (none here: walk)
        ("get_nodes", None),  # the dataset
        ("neighbour_ids", "read"), ("neighbour_ids", "derived_from"),
        ("neighbour_ids", "produced"),
        # the artifacts: nothing new
        ("neighbour_ids", "read"), ("neighbour_ids", "derived_from"),
        ("node_values", "site_id"),  # the jobs' sites
        ("get_read_models", None),  # the items' replicas rows (none here)
        ("neighbours", "cached_at"),
        ("node_values", "jurisdiction"),  # the sites
    ]
    assert run(1) == run(30) == expected


def test_graphql(store: CountingStore, gql_on: Any) -> None:
    data = gql_on(store)(
        """{ dataResidency(datasetId: "dataset:raw", allowed: ["de"]) {
              datasetId itemIds truncated
              places { itemId siteId }
              violations { itemId item { id type } siteId site { id jurisdiction }
                           jurisdiction jobIds jobs { id } held heldFrom heldTo }
        } }"""
    )["dataResidency"]
    assert data["datasetId"] == RAW
    assert data["itemIds"] == [CKPT, REPORT, CLEAN, RAW]
    assert len(data["places"]) == 5
    report, clean, raw = data["violations"]
    assert clean == {
        "itemId": CLEAN, "item": {"id": CLEAN, "type": "dataset"}, "siteId": "site:us1",
        "site": {"id": "site:us1", "jurisdiction": "us"}, "jurisdiction": "us",
        "jobIds": ["job:train"], "jobs": [{"id": "job:train"}], "held": False,
        "heldFrom": None, "heldTo": None,
    }
    assert (raw["jobIds"], raw["held"]) == ([], True)
    assert raw["heldFrom"].startswith("2026-") and raw["heldTo"] is not None
    assert (report["site"], report["jurisdiction"]) == ({"id": "site:x1", "jurisdiction": None},
                                                        None)


def test_a_reader_without_site_id_processed_where_its_servers_were(
    store: CountingStore,
) -> None:
    w = Writer(store)
    w.job("job:unenriched", None, [CKPT], [])
    w.edge("ran_on", "job:unenriched", "server:u-n1", valid_from=T + H, gpus=1)
    w.edge("in_rack", "server:u-n1", "rack:u-r1", valid_from=T)
    w.edge("in_site", "rack:u-r1", "site:us1", valid_from=T)
    answer = data_residency(store, CKPT, ["de"])
    assert [(p.item_id, p.site_id, p.jobs) for p in answer.violations] == [
        (CKPT, "site:us1", ["job:unenriched"]), (REPORT, "site:x1", [])
    ]
