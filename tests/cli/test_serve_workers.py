"""`fleetgraph serve --workers N` (FLEETGRAPH_SERVE_WORKERS): N server processes, each
building the app from the settings, all answering on one port."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.drills.live_server import build_fleet, live_server

NODES = '{"query": "{ nodes(type: \\"site\\", first: 10) { items { id } } }"}'


def test_two_server_processes_answer_the_same(tmp_path: Path) -> None:
    build_fleet(tmp_path, sites=2, hours=2.0)
    with live_server(tmp_path, serve_workers="2") as server:
        headers = {"Authorization": "Bearer ops-token", "Content-Type": "application/json"}
        answers = set()
        for _ in range(20):
            reply = httpx.post(server.url, content=NODES, headers=headers, timeout=10)
            assert reply.status_code == 200, reply.text
            answers.add(reply.text)
        assert len(answers) == 1 and "site:s0001" in answers.pop()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            started = set(re.findall(r"Started server process \[(\d+)\]", server.log_tail(20000)))
            if len(started) == 2:
                break
            time.sleep(0.2)
        assert len(started) == 2, server.log_tail()
        server.assert_alive()
