"""Headless Chromium (Debian's ``chromium``) driven by Playwright, against a real
``fleetgraph serve`` on loopback over a small simulated fleet.

Every request the browser makes to anything but 127.0.0.1 is aborted and recorded
(``outside``): the pages must work air-gapped. Without chromium or Playwright the tests
skip, saying why; with ``CI`` set they fail instead, so CI cannot pass without them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.drills.live_server import TOKENS, LiveServer, build_fleet, live_server

CHROMIUM_NAMES = ("chromium", "chromium-browser")
# besides the per-request check below: no name resolves but loopback, and any proxied
# request goes to a closed port
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser tests must run; "
                    "`apt-get install -y chromium` and `pip install -e '.[dev]'`)")
    pytest.skip(f"{reason}: the browser tests need Debian's chromium and Playwright")


@pytest.fixture(scope="package")
def chromium_path() -> str:
    found = os.environ.get("BROWSER_CHROMIUM") or next(
        filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not found:
        _unavailable("no chromium on PATH")
    assert found is not None
    return found


# package scope, never session: Playwright's sync API runs an event loop in this thread
# while it is open, and every later test's asyncio.run() would fail under it
@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package playwright is not installed")
    with sync_playwright() as playwright:
        # no sandbox: CI runs as root in a container, where chromium's sandbox cannot start
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                              args=["--no-sandbox", "--disable-gpu", *OFFLINE_ARGS])
        yield launched
        launched.close()


@dataclass
class Fleet:
    server: LiveServer
    store_path: Path  # the embedded store the server reads

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Fleet]:
    """Development mode (GraphiQL on) with API tokens: the pages load without a token,
    their queries need one. (After the browser: without one, no fleet is built.)"""
    data_dir = tmp_path_factory.mktemp("browser-fleet")
    store_path = build_fleet(data_dir, sites=1, hours=2.0)
    with live_server(data_dir, mode="development") as running:
        yield Fleet(running, store_path)


OPS_TOKEN = next(token for token, role in TOKENS.items() if role == "ops")


@dataclass
class Page:
    page: Any
    outside: list[str] = field(default_factory=list)  # requests not to 127.0.0.1, aborted
    errors: list[str] = field(default_factory=list)  # uncaught script errors
    console: list[str] = field(default_factory=list)  # console errors (CSP refusals too)

    def refused(self) -> list[str]:
        """What the Content-Security-Policy refused, as the console reports it."""
        return [text for text in self.console if "Content Security Policy" in text]


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 860},
                                  accept_downloads=True)
    result = Page(context.new_page())

    def only_loopback(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            result.outside.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    result.page.on("console", lambda message: message.type == "error" and
                   result.console.append(message.text))
    result.page.on("pageerror", lambda error: result.errors.append(str(error)))
    yield result
    context.close()
