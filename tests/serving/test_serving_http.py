"""The ASGI app in-process through httpx (no uvicorn): /graphql and /healthz."""

from __future__ import annotations

import asyncio

import httpx

from fleetgraph.serving.app import create_app
from fleetgraph.serving.instrumentation import CountingStore


def request(app: object, method: str, path: str, **kwargs: object) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(run())


def test_graphql_over_http(fleet: CountingStore, timeline) -> None:
    app = create_app(fleet, clock=lambda: timeline.now)
    response = request(
        app,
        "POST",
        "/graphql",
        json={
            "query": "query ($id: ID!) { affectedJobs(componentId: $id) { items { jobId } } "
            'modelHotness(modelId: "model:m1") { siteId } }',
            "variables": {"id": "cdu:s1-c1"},
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    assert [i["jobId"] for i in body["data"]["affectedJobs"]["items"]] == [
        "job:j1", "job:j6", "job:j6", "job:j2"
    ]
    # the app's clock is "now": the default window is the 24 h before it
    assert [s["siteId"] for s in body["data"]["modelHotness"]] == [
        "site:s1", "site:s2", "site:s3"
    ]


def test_errors_over_http_are_clear(fleet: CountingStore) -> None:
    app = create_app(fleet)
    body = request(
        app, "POST", "/graphql", json={"query": '{ node(id: "bad id") { id } }'}
    ).json()
    assert body["data"] == {"node": None}
    assert "is not a fleetgraph id" in body["errors"][0]["message"]


def test_healthz(fleet: CountingStore) -> None:
    response = request(create_app(fleet), "GET", "/healthz")
    assert (response.status_code, response.text) == (200, "ok")


def test_graphiql_is_off_in_production(fleet: CountingStore) -> None:
    html = {"headers": {"accept": "text/html"}}
    assert "graphiql" in request(create_app(fleet), "GET", "/graphql", **html).text.lower()
    production = create_app(fleet, production=True, tokens={"t": "ops"})
    off = request(production, "GET", "/graphql", **html)
    assert off.status_code == 404
    assert off.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "GraphiQL" in off.json()["errors"][0]["message"]
