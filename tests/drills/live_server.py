"""A real `fleetgraph serve` in a subprocess on loopback, over a small simulated fleet.

The fleet is simulated and ingested into an embedded store in the test's
directory (the same code as `fleetgraph simulate` and `fleetgraph ingest`),
with events ending now, so default time windows see them. The server runs in
production mode with the API tokens below, from FLEETGRAPH_* variables.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fleetgraph.bench.workload import write_simulated_log
from fleetgraph.cli.main import ingest_log
from fleetgraph.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {"ops-token": "ops", "sched-token": "scheduler", "audit-token": "auditor"}
STARTUP_S = 60.0


def build_fleet(data_dir: Path, sites: int, hours: float) -> Path:
    """Simulate ``sites`` sites over the ``hours`` before now and ingest them; the store."""
    settings = Settings(data_dir=data_dir)
    end_us = int(time.time()) // 60 * 60 * 1_000_000
    write_simulated_log(settings.events_path, sites, hours, end_us)
    report = ingest_log(settings, settings.events_path, settings.sqlite_path, fresh=True)
    assert report.stats.written > 0
    return settings.sqlite_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _command() -> list[str]:
    return [sys.executable, "-m", "fleetgraph"]


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def assert_alive(self) -> None:
        assert self.process.poll() is None, f"the server died:\n{self.log_tail()}"


def _wait_healthy(server: LiveServer) -> bool:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=2).text == "ok":
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def live_server(data_dir: Path, **settings: str) -> Iterator[LiveServer]:
    """`fleetgraph serve` on a free loopback port over ``data_dir``'s store, in production
    mode with TOKENS; ``settings`` are more FLEETGRAPH_* variables (lower-case names
    without the prefix, e.g. ``query_timeout_s="0.5"``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLEETGRAPH_")}
    env.update({"FLEETGRAPH_MODE": "production", "FLEETGRAPH_API_TOKENS": json.dumps(TOKENS),
                "FLEETGRAPH_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"})
    env.update({f"FLEETGRAPH_{key.upper()}": value for key, value in settings.items()})
    for attempt in range(3):  # another process may take the free port before the server
        port = _free_port()
        log = data_dir / f"serve-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*_command(), "--data-dir", str(data_dir), "serve", "--port", str(port)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        server = LiveServer(process, port, log)
        try:
            if _wait_healthy(server):
                yield server
                return
        finally:
            _stop(process)
        if attempt == 2:
            pytest.fail(f"the server did not start:\n{server.log_tail()}")
