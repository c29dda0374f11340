"""The explorer's pages and files without a browser: the vendored files match the pinned
manifest, the pages name only this server's files (each one served), with a strict
Content-Security-Policy; GraphiQL is off in production, the graph view is not."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.app import create_app
from fleetgraph.serving.explorer import vendor
from fleetgraph.serving.explorer.pages import CSP, TOKEN_PLACEHOLDER
from fleetgraph.storage.base import GraphStore
from fleetgraph.storage.embedded import SQLiteGraphStore

EXPLORER = Path(vendor.__file__).resolve().parent
HTML = {"accept": "text/html"}
LOCAL_REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')


@dataclass(frozen=True)
class FakeExample:
    title: str
    query: str
    variables: dict[str, Any]


def get(app: Any, path: str, **kwargs: Any) -> httpx.Response:
    """In-process through httpx, on an event loop in a thread of its own (Playwright's sync
    API may hold this thread's loop when the browser tests ran first)."""
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as client:
            return await client.get(path, **kwargs)

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, run()).result()


def test_the_vendored_files_match_the_manifest() -> None:
    manifest = vendor.load_manifest()
    assert vendor.check() == []
    for name, spec in manifest["packages"].items():
        folder = vendor.VENDOR_DIR / vendor.folder_name(name, spec["version"])
        assert (folder / "LICENSE").is_file(), f"{name}: its licence must be kept"
        assert spec["license"] == "MIT"
    # what check() compares is what is on disk: a changed byte is found
    (first,) = vendor.vendored_files(manifest)[:1]
    changed = {**manifest, "packages": {**manifest["packages"], first.package: {
        **manifest["packages"][first.package], "files": {
            **manifest["packages"][first.package]["files"],
            first.dest: {"source": first.source, "sha256": "0" * 64}}}}}
    assert len(vendor.check(manifest=changed)) == 1


def test_our_own_files_name_no_outside_url() -> None:
    for path in [*EXPLORER.glob("templates/*.html"), *EXPLORER.glob("static/*.*")]:
        text = path.read_text()
        # the SVG namespace is a name, not a request
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text and "//" + "unpkg" not in text, path


def _store(tmp_path: Path) -> GraphStore:
    return SQLiteGraphStore(FLEET, tmp_path / "graph.sqlite")


def test_graphiql_page_names_only_local_files_and_opens_on_the_examples(
        tmp_path: Path) -> None:
    examples = [FakeExample("Ops: the sites", "{ nodes(type: \"site\") { items { id } } }",
                            {"a": 1})]
    with _store(tmp_path) as store:
        app = create_app(store, tokens={"t": "ops"}, examples=lambda s, now: examples)
        page = get(app, "/graphql", headers=HTML)
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        references = LOCAL_REFERENCE.findall(page.text)
        assert any(ref.endswith("graphiql.min.js") for ref in references)
        for reference in references:
            if reference.startswith("data:"):
                continue
            assert reference.startswith("/explorer/static/"), reference
            assert get(app, reference).status_code == 200, reference
        config = json.loads(re.search(
            r'<script type="application/json" id="fleetgraph-config">(.*?)</script>',
            page.text, re.S).group(1))  # type: ignore[union-attr]
        (tab,) = config["tabs"]
        assert tab["query"] == f"# {examples[0].title}\n{examples[0].query}\n"
        assert json.loads(tab["variables"]) == {"a": 1}
        assert json.loads(tab["headers"]) == {"Authorization": TOKEN_PLACEHOLDER}
        assert config["tokenRequired"] is True


def test_production_serves_the_graph_view_but_not_graphiql(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        app = create_app(store, production=True, tokens={"t": "ops"})
        assert get(app, "/graphql", headers=HTML).status_code == 404
        graph = get(app, "/graph")
        assert graph.status_code == 200
        assert graph.headers["content-security-policy"] == CSP
        assert "cytoscape.min.js" in graph.text


def test_graphiql_opens_even_when_finding_the_examples_fails(tmp_path: Path) -> None:
    def broken(store: GraphStore, now: int) -> list[FakeExample]:
        raise RuntimeError("store unreachable")

    with _store(tmp_path) as store:
        app = create_app(store, examples=broken)
        page = get(app, "/graphql", headers=HTML)
        assert page.status_code == 200
        assert "store unreachable" in page.text
        assert get(app, "/graphql", headers=HTML).status_code == 200  # found once, kept
