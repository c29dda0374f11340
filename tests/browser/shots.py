"""Where the browser tests put their screenshots: the test's folder, or the folder named
by BROWSER_SCREENSHOTS (``BROWSER_SCREENSHOTS=docs/images`` refreshes the README's)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def screenshot_path(tmp_path: Path, name: str) -> Path:
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    target = (ROOT / folder) if folder else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target / name
