"""Role bypass drill against a real `fleetgraph serve` (production mode, role tokens).

The attacks of issue 8, items 2 and 3, over HTTP: a GET with two ``query``
parameters (the gate read the first, strawberry ran the last), the scheduler
rebuilding lineage with ``traverse`` and ``neighbours``, the auditor walking
site -> racks -> servers -> jobs, and fragments and aliases around the grant. Each
is refused (400 for an ambiguous request, 403 for a root field out of the grant,
FORBIDDEN on the field otherwise) with none of the data it aimed at, while ops
gets that data from the same server, and the server keeps answering.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.drills.live_server import LiveServer, build_fleet, live_server

SITES = 8
SITE = "site:s0001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("roles")
    build_fleet(data_dir, SITES, 12.0)
    with live_server(data_dir) as running:
        yield running


def post(server: LiveServer, token: str, query: str,
         variables: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(server.url, json={"query": query, "variables": variables},
                      headers={"authorization": f"Bearer {token}"}, timeout=30)


def ops_data(server: LiveServer, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = post(server, "ops-token", query, variables)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def ids_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(set(), *(ids_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(ids_in(v) for v in value))
    return {value} if isinstance(value, str) and ":" in value else set()


def assert_forbidden(response: httpx.Response, role: str, secret: set[str]) -> None:
    assert response.status_code in (200, 403), response.text[:500]
    body = response.json()
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"FORBIDDEN"}, body["errors"]
    assert all(f"role '{role}' may not" in e["message"] for e in body["errors"])
    assert not ids_in(body.get("data")) & secret, body["data"]


def test_a_get_with_two_queries_is_refused(server: LiveServer) -> None:
    hot = '{ modelHotness(modelId: "model:m-gemma-2b-v3") { siteId } }'
    allowed = f'{{ node(id: "{SITE}") {{ id }} }}'
    for first, last in ((allowed, hot), (hot, allowed)):
        response = httpx.get(server.url, params=[("query", first), ("query", last)],
                             headers={"authorization": "Bearer audit-token"}, timeout=30)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    one = httpx.get(server.url, params={"query": hot},
                    headers={"authorization": "Bearer audit-token"}, timeout=30)
    assert one.status_code == 403
    assert one.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert_serves(server)


@pytest.fixture(scope="module")
def lineage(server: LiveServer) -> tuple[str, set[str]]:
    """A dataset read by jobs, and the jobs and outputs ops reaches from it."""
    datasets = ops_data(server, '{ nodes(type: "dataset", first: 50) { items { id } } }')
    for item in datasets["nodes"]["items"]:
        found = ops_data(server, LINEAGE_WALK, {"d": item["id"]})["traverse"]["items"]
        if found:
            return item["id"], {n["id"] for n in found}
    pytest.fail("no dataset of the drill fleet was read by a job")


LINEAGE_WALK = ('query ($d: ID!) { traverse(start: $d, steps: [{edgeType: "read", '
                'direction: IN}, {edgeType: "produced"}]) { items { id } } }')


def test_the_scheduler_cannot_rebuild_lineage(
    server: LiveServer, lineage: tuple[str, set[str]]
) -> None:
    dataset, outputs = lineage
    readers = ops_data(server, 'query ($d: ID!) { node(id: $d) { neighbours(edgeType: "read", '
                       'direction: IN) { fromId } } }', {"d": dataset})["node"]["neighbours"]
    secret = outputs | {r["fromId"] for r in readers}
    for query in (
        LINEAGE_WALK,
        'query ($d: ID!) { node(id: $d) { neighbours(edgeType: "read", direction: IN) '
        '{ fromId } } }',
        'query ($d: ID!) { node(id: $d) { ... on Dataset { readBy { id } } } }',
        'query ($d: ID!) { x: node(id: $d) { ...D } } fragment D on Dataset { readBy { '
        'outputs { id } } }',
    ):
        assert_forbidden(post(server, "sched-token", query, {"d": dataset}), "scheduler", secret)
    assert_serves(server)


def test_the_auditor_cannot_walk_into_the_hardware(server: LiveServer) -> None:
    walk = (f'{{ node(id: "{SITE}") {{ ... on Site {{ racks {{ id servers {{ id jobs {{ id }} '
            '} } } } }')
    hardware = ids_in(ops_data(server, walk))
    assert any(i.startswith("server:") for i in hardware)
    hardware.discard(SITE)
    for query in (
        walk,
        f'{{ node(id: "{SITE}") {{ neighbours(edgeType: "in_site", direction: IN) '
        '{ from { id } } } }',
        f'query {{ ...F }} fragment F on Query {{ a: node(id: "{SITE}") {{ ... on Site {{ '
        'r: racks { id } } } }',
        f'{{ node(id: "{sorted(i for i in hardware if i.startswith("server:"))[0]}") {{ id }} }}',
    ):
        assert_forbidden(post(server, "audit-token", query), "auditor", hardware)
    assert_serves(server)


def test_each_role_still_reads_its_grant(
    server: LiveServer, lineage: tuple[str, set[str]]
) -> None:
    dataset, _ = lineage
    audit = post(server, "audit-token", 'query ($d: ID!) { lineage(id: $d, direction: DOWN) '
                 '{ nodes { id } } node(id: $d) { ... on Dataset { readBy { site { '
                 'jurisdiction } } } } }', {"d": dataset})
    assert audit.status_code == 200 and "errors" not in audit.json(), audit.text[:500]
    assert audit.json()["data"]["lineage"]["nodes"]
    sched = post(server, "sched-token", f'{{ node(id: "{SITE}") {{ ... on Site {{ racks {{ '
                 'servers { gpus { id } } } } } }')
    assert sched.status_code == 200 and "errors" not in sched.json(), sched.text[:500]


def assert_serves(server: LiveServer) -> None:
    server.assert_alive()
    assert ops_data(server, f'{{ node(id: "{SITE}") {{ id }} }}') == {"node": {"id": SITE}}
