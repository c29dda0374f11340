"""GraphiQL from the package's own files, in headless Chromium with no outside network:
it opens on the fleet's example queries, runs one with a token typed into its headers
editor, and shows the answer the API gives over plain HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from fleetgraph.cli.examples import find_examples
from fleetgraph.graph_model import FLEET
from fleetgraph.serving.explorer.pages import CSP, TOKEN_PLACEHOLDER
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.browser.conftest import OPS_TOKEN, Fleet, Page
from tests.browser.shots import screenshot_path

TIMEOUT_MS = 30_000

# the CodeMirror editors GraphiQL draws: their text, by the section they sit in
EDITORS = """() => Array.from(document.querySelectorAll('.CodeMirror')).map(e => ({
    result: Boolean(e.closest('.result-window')),
    value: e.CodeMirror.getValue()}))"""
SET_HEADERS = """(token) => {
    const editor = Array.from(document.querySelectorAll('.CodeMirror'))
        .find(e => e.CodeMirror.getValue().includes('paste your API token'));
    editor.CodeMirror.setValue(JSON.stringify({Authorization: 'Bearer ' + token}, null, 2));
}"""


def _editors(page: Any) -> list[dict[str, Any]]:
    editors: list[dict[str, Any]] = page.evaluate(EDITORS)
    return editors


def answer(fleet: Fleet, example: Any) -> dict[str, Any]:
    """The API's answer to an example over plain HTTP."""
    expected: dict[str, Any] = httpx.post(
        fleet.server.url, json={"query": example.query, "variables": dict(example.variables)},
        headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=30).json()
    assert "errors" not in expected, expected
    return expected


def expected_root_fields(fleet: Fleet, example: Any) -> list[str]:
    return list(answer(fleet, example)["data"])


def test_graphiql_runs_an_example_query_offline(fleet: Fleet, page: Page,
                                               tmp_path: Path) -> None:
    response = page.page.goto(fleet.server.url)
    assert response is not None and response.ok
    assert response.headers["content-security-policy"] == CSP
    html = response.text()
    assert "http://" not in html and "https://" not in html, "the page names an outside URL"

    page.page.wait_for_selector(".graphiql-container .graphiql-editor", timeout=TIMEOUT_MS)
    # the tabs are the fleet's example queries, the first one open
    with SQLiteGraphStore(FLEET, fleet.store_path) as store:
        examples = find_examples(store, int(page.page.evaluate("Date.now()")) * 1000)
    assert examples
    tabs = page.page.locator(".graphiql-tab").all_inner_texts()
    assert len(tabs) == len(examples)
    first = examples[0]
    editors = _editors(page.page)
    assert any(e["value"].startswith(f"# {first.title}\n{first.query}") for e in editors)

    # with API tokens on the server, the headers editor holds the placeholder to replace
    page.page.get_by_text("Headers", exact=True).click()
    assert any(TOKEN_PLACEHOLDER in e["value"] for e in _editors(page.page))
    page.page.evaluate(SET_HEADERS, OPS_TOKEN)
    page.page.locator(".graphiql-execute-button").click()
    page.page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.result-window .CodeMirror'))
             .some(e => { try { return JSON.parse(e.CodeMirror.getValue()).data; }
                          catch { return false; } })""", timeout=TIMEOUT_MS)
    (shown,) = [e["value"] for e in _editors(page.page) if e["result"]]

    assert json.loads(shown) == answer(fleet, first)

    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # after the skip

    # the Docs panel needs the schema, which GraphiQL asked for before the token was in
    page.page.get_by_label("Show Documentation Explorer").click()
    for attempt in range(3):
        page.page.get_by_label("Re-fetch GraphQL schema").click()
        try:
            page.page.get_by_text("Root Types").wait_for(timeout=TIMEOUT_MS / 2)
            break
        except PlaywrightTimeout:
            assert attempt < 2, "the Docs panel never showed the schema"
    # another tab, its headers still the placeholder: the token typed above serves it
    second = examples[1]
    page.page.locator(".graphiql-tab").nth(1).click()
    page.page.wait_for_function(
        """(title) => Array.from(document.querySelectorAll('.CodeMirror'))
             .some(e => e.CodeMirror.getValue().startsWith('# ' + title))""",
        arg=second.title, timeout=TIMEOUT_MS)
    field = next(iter(expected_root_fields(fleet, second)))
    for attempt in range(3):
        # GraphiQL takes the operation name from the tab's editor a moment after the
        # switch; run at once on a busy machine, it may still name the first tab's
        # operation (UNKNOWN_OPERATION): a person clicking is never that fast, so run again
        page.page.locator(".graphiql-execute-button").click()
        page.page.wait_for_function(
            """(field) => Array.from(document.querySelectorAll('.result-window .CodeMirror'))
                 .some(e => { try { const r = JSON.parse(e.CodeMirror.getValue());
                                    return (r.data && r.data[field]) || r.errors; }
                              catch { return false; } })""",
            arg=field, timeout=TIMEOUT_MS)
        (shown,) = [e["value"] for e in _editors(page.page) if e["result"]]
        if "UNKNOWN_OPERATION" not in shown:
            break
        assert attempt < 2, f"the second tab kept running another tab's operation: {shown}"
    assert json.loads(shown) == answer(fleet, second)
    page.page.locator(".graphiql-tab").nth(0).click()

    page.page.screenshot(path=str(screenshot_path(tmp_path, "explorer.png")))
    assert page.outside == [], f"the page asked for outside URLs: {page.outside}"
    assert page.refused() == [], page.refused()
    assert page.errors == []


def test_the_live_server_serves_the_vendored_files(fleet: Fleet) -> None:
    answer = httpx.get(f"{fleet.base}/explorer/static/vendor/manifest.json", timeout=10)
    assert answer.status_code == 200
    packages = answer.json()["packages"]
    assert {"react", "react-dom", "graphiql", "cytoscape"} <= set(packages)
