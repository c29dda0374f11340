"""Documents that used to hang `fleetgraph serve`, against a real server over loopback.

The 48-byte fragment cycle of issue 8 pinned a core for good (the cost guard
followed ``...A`` forever on the event loop: no deadline, no ``/healthz``, no
SIGTERM); a 22-level fragment DAG took 31 s, and 440 copies of one field a
second in graphql-core's validation. Each is now refused within the request
deadline while ``/healthz`` keeps answering, and SIGTERM stops a busy server
within 5 s.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.drills.live_server import LiveServer, build_fleet, live_server

DEADLINE_S = 2.0
CYCLE = "query { ...A } fragment A on Query { ...A ...A }"
DAG = ("query { ...F0 } " + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}"
                                     for i in range(22)) + " fragment F22 on Query { __typename }")
REPEATED = "{ " + " ".join('node(id: "site:s0001") { id }' for _ in range(440)) + " }"
HOSTILE = [(CYCLE, "FRAGMENT_CYCLE"), (DAG, "QUERY_TOO_EXPENSIVE"),
           (REPEATED, "TOO_MANY_REPEATED_FIELDS")]
# placement with an explicit `at` reads the whole fleet (at now it reads the site-state
# read model and is fast); an hour ago, within the simulated fleet's hours before now
AN_HOUR_AGO = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
SLOW = "{ " + " ".join(f"p{i}: placement(request: {{gpus: 8, at: \"{AN_HOUR_AGO}\"}}) "
                       "{ candidates(first: 10) { siteId score } }" for i in range(32)) + " }"


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("hang")
    build_fleet(data_dir, 3, 2.0)
    return data_dir


@pytest.fixture(scope="module")
def server(fleet_dir: Path) -> Iterator[LiveServer]:
    with live_server(fleet_dir, query_timeout_s=str(DEADLINE_S)) as running:
        yield running


def post(server: LiveServer, query: str, timeout: float = DEADLINE_S + 1) -> httpx.Response:
    return httpx.post(server.url, json={"query": query}, timeout=timeout,
                      headers={"authorization": "Bearer ops-token"})


def healthz_latencies(server: LiveServer, until: float) -> list[float]:
    """Seconds each /healthz took, asked every 50 ms until ``until`` (monotonic)."""
    latencies = []
    while time.monotonic() < until:
        start = time.monotonic()
        assert httpx.get(server.health_url, timeout=DEADLINE_S).text == "ok"
        latencies.append(time.monotonic() - start)
        time.sleep(0.05)
    return latencies


def test_hostile_documents_are_refused_within_the_deadline_while_healthz_answers(
    server: LiveServer,
) -> None:
    with ThreadPoolExecutor(max_workers=len(HOSTILE) * 2 + 1) as pool:
        health = pool.submit(healthz_latencies, server, time.monotonic() + DEADLINE_S)
        sent = [(pool.submit(post, server, query), code) for query, code in HOSTILE * 2]
        for future, code in sent:
            response = future.result()  # httpx raises past the deadline + 1 s
            assert response.status_code == 200, response.text[:300]
            assert code in {e["extensions"]["code"] for e in response.json()["errors"]}
        latencies = health.result()
    assert latencies and max(latencies) < 1.0, latencies
    body = post(server, '{ node(id: "site:s0001") { id } }').json()
    assert body == {"data": {"node": {"id": "site:s0001"}}}
    server.assert_alive()


def test_the_cycle_is_refused_over_get_too(server: LiveServer) -> None:
    response = httpx.get(server.url, params={"query": CYCLE}, timeout=DEADLINE_S + 1,
                         headers={"authorization": "Bearer ops-token"})
    assert response.status_code == 200
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["FRAGMENT_CYCLE"]
    assert "fragment 'A' spreads itself (A -> A)" in response.json()["errors"][0]["message"]


def _stalled_upload(server: LiveServer) -> socket.socket:
    """A POST whose body never ends: a request in flight the server cannot finish."""
    connection = socket.create_connection(("127.0.0.1", server.port))
    connection.sendall(b"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                       b"content-type: application/json\r\ncontent-length: 1000\r\n"
                       b"authorization: Bearer ops-token\r\n\r\n" + b'{"query": "{ __ty')
    return connection


def test_sigterm_stops_a_busy_server_within_5_s(fleet_dir: Path) -> None:
    with live_server(fleet_dir, query_timeout_s="60") as busy, \
            ThreadPoolExecutor(max_workers=4) as pool:
        slow = [pool.submit(post, busy, SLOW, 70.0) for _ in range(3)]
        stalled = _stalled_upload(busy)
        time.sleep(0.5)  # the requests are in flight
        busy.assert_alive()
        start = time.monotonic()
        busy.process.send_signal(signal.SIGTERM)
        try:
            busy.process.wait(timeout=10)
        except Exception:
            pytest.fail(f"the server was still running 10 s after SIGTERM:\n{busy.log_tail()}")
        stopped_after = time.monotonic() - start
        stalled.close()
        for request in slow:  # answered, or cut when the server stopped
            with contextlib.suppress(httpx.HTTPError):
                request.result()
    assert stopped_after < 5.0, f"{stopped_after:.1f} s\n{busy.log_tail()}"
    # the slow queries finished in the grace period; the stalled upload was cut after it
    assert "timeout graceful shutdown exceeded" in busy.log_tail()
