"""The graph view in headless Chromium with no outside network: a CDU's blast radius
drawn node for node as the API answers it, a click that draws a node's neighbours as
the store holds them, a lineage, and the SVG and PNG exports."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.explorer.pages import CSP
from fleetgraph.storage.base import Direction
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.browser.conftest import OPS_TOKEN, Fleet, Page
from tests.browser.shots import screenshot_path

TIMEOUT_MS = 30_000
SVG = "{http://www.w3.org/2000/svg}"


def ask(fleet: Fleet, query: str, **variables: Any) -> dict[str, Any]:
    answer = httpx.post(fleet.server.url, json={"query": query, "variables": variables},
                        headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=30).json()
    assert "errors" not in answer, answer
    data: dict[str, Any] = answer["data"]
    return data


def drawn(page: Any) -> set[str]:
    return set(page.evaluate("() => fleetgraphView.cy.nodes().map(n => n.id())"))


def draw(page: Any, view: str, node_id: str, **fields: str) -> None:
    page.select_option("#view", view)
    page.fill("#node-id", node_id)
    for name, value in fields.items():
        page.locator(f"#{name}").fill(value) if name == "depth" else page.select_option(
            f"#{name}", value)
    page.click("#draw")
    page.wait_for_selector("#status[data-state=done], #status[data-state=error]",
                           timeout=TIMEOUT_MS)
    assert page.get_attribute("#status", "data-state") == "done", page.inner_text("#status")


def blast_ids(fleet: Fleet, cdu: str) -> tuple[set[str], dict[str, str]]:
    """The ids a drawing of the blast radius must hold (the CDU, the items, every id on
    their paths) and each item's impact, from the API over HTTP."""
    radius = ask(fleet, """query($id: ID!) { blastRadius(componentId: $id) {
        items { id impact path } } }""", id=cdu)["blastRadius"]
    ids = {cdu} | {item["id"] for item in radius["items"]}
    ids |= {step for item in radius["items"] for step in item["path"] or []}
    return ids, {item["id"]: item["impact"] for item in radius["items"]}


def test_the_graph_view_draws_a_blast_radius_and_exports_it(fleet: Fleet, page: Page,
                                                            tmp_path: Path) -> None:
    cdus = ask(fleet, '{ nodes(type: "cdu", first: 20) { items { id } } }')
    sizes = {}
    for node in cdus["nodes"]["items"]:
        ids, impacts = blast_ids(fleet, node["id"])
        sizes[node["id"]] = (len(ids), ids, impacts)
    cdu = max(sorted(sizes), key=lambda c: sizes[c][0])
    _, expected, impacts = sizes[cdu]
    assert len(expected) > 5, "the fleet should give a CDU a blast radius worth drawing"

    response = page.page.goto(f"{fleet.base}/graph?view=blast&id={cdu}")
    assert response is not None and response.ok
    assert response.headers["content-security-policy"] == CSP
    page.page.fill("#token", OPS_TOKEN)
    draw(page.page, "blast", cdu)
    assert drawn(page.page) == expected
    assert int(page.page.get_attribute("#status", "data-nodes") or 0) == len(expected)
    shown_impacts = page.page.evaluate(
        "() => Object.fromEntries(fleetgraphView.cy.nodes('[impact]').map("
        "n => [n.id(), n.data('impact')]))")
    assert shown_impacts == {**impacts, cdu: "ROOT"}
    page.page.screenshot(path=str(screenshot_path(tmp_path, "graph-view.png")))

    with page.page.expect_download() as svg_download:
        page.page.click("#export-svg")
    svg_file = tmp_path / "blast.svg"
    svg_download.value.save_as(svg_file)
    tree = ET.parse(svg_file).getroot()
    assert tree.tag == f"{SVG}svg"
    titles = {circle.findtext(f"{SVG}title") for circle in tree.iter(f"{SVG}circle")}
    assert titles == expected

    with page.page.expect_download() as png_download:
        page.page.click("#export-png")
    png_file = tmp_path / "blast.png"
    png_download.value.save_as(png_file)
    assert png_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_file.stat().st_size > 2000

    # a click on the CDU draws its neighbours, as the store holds them
    before = drawn(page.page)
    x, y = page.page.evaluate(
        f"() => {{ const p = fleetgraphView.cy.getElementById({cdu!r}).renderedPosition();"
        " return [p.x, p.y]; }")
    box = page.page.locator("#cy").bounding_box()
    assert box is not None
    page.page.mouse.click(box["x"] + x, box["y"] + y)
    page.page.wait_for_function(
        "() => document.querySelector('#status').textContent.startsWith('neighbourhood')"
        " && document.querySelector('#status').dataset.state === 'done'", timeout=TIMEOUT_MS)
    with SQLiteGraphStore(FLEET, fleet.store_path) as store:
        neighbours = {cdu}
        for name, edge_type in FLEET.edges.items():
            if "cdu" in edge_type.from_types:
                neighbours |= {e.to_id for e in store.neighbours(name, [cdu], Direction.OUT)[cdu]}
            if "cdu" in edge_type.to_types:
                neighbours |= {e.from_id for e in store.neighbours(name, [cdu], Direction.IN)[cdu]}
    assert len(neighbours - before) <= 150, "the view draws 150 new neighbours at most"
    assert drawn(page.page) == before | neighbours

    assert page.outside == [], f"the page asked for outside URLs: {page.outside}"
    assert page.refused() == [], page.refused()
    assert page.errors == []


def test_the_graph_view_draws_a_lineage(fleet: Fleet, page: Page) -> None:
    artifacts = ask(fleet, '{ nodes(type: "artifact", first: 50) { items { id } } }')
    found = []
    for node in artifacts["nodes"]["items"]:
        walk = ask(fleet, """query($id: ID!) { lineage(id: $id, direction: UP, depth: 3) {
            nodes { id } edges { type fromId toId } } }""", id=node["id"])["lineage"]
        found.append((len(walk["nodes"]), node["id"], walk))
    assert found, "the fleet should hold artifacts"
    _, artifact, walk = max(found)
    expected = {n["id"] for n in walk["nodes"]} | {
        end for e in walk["edges"] for end in (e["fromId"], e["toId"])}

    page.page.goto(f"{fleet.base}/graph")
    page.page.fill("#token", OPS_TOKEN)
    draw(page.page, "lineage", artifact, direction="UP", depth="3")
    assert drawn(page.page) == expected
    assert page.page.evaluate("() => fleetgraphView.cy.edges().length") == len(
        {(e["fromId"], e["type"], e["toId"]) for e in walk["edges"]})
    assert page.outside == []
    assert page.errors == []


def test_a_missing_token_is_said_on_the_page(fleet: Fleet, page: Page) -> None:
    page.page.goto(f"{fleet.base}/graph")
    page.page.select_option("#view", "neighbours")
    page.page.fill("#node-id", "site:s0001")
    page.page.click("#draw")
    page.page.wait_for_selector("#status[data-state=error]", timeout=TIMEOUT_MS)
    assert "API token" in page.page.inner_text("#status")
