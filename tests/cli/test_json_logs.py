"""FLEETGRAPH_LOG_FORMAT=json: one JSON object per log line, from the formatter and from
a real `fleetgraph serve` (uvicorn's own lines included), which also answers /readyz and
/metrics over HTTP; FLEETGRAPH_ACCESS_LOG=false leaves out the line per request."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx

from fleetgraph.core.logs import JsonFormatter, logging_config
from fleetgraph.graph_model import FLEET
from fleetgraph.settings import Settings
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.drills.live_server import TOKENS, live_server


def test_a_record_is_one_json_line_with_its_extra_fields() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("fleetgraph.test_json_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("stored %d upserts\nin %s", 3, "one batch", extra={"topic": "jobs"})
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            logger.exception("it failed")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # newlines in messages and tracebacks stay inside the JSON
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "stored 3 upserts\nin one batch"
    assert (first["level"], first["logger"], first["topic"]) == (
        "WARNING", "fleetgraph.test_json_logs", "jobs")
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert second["level"] == "ERROR" and "ValueError: bad\nvalue" in second["exc_info"]


def test_logging_config_refuses_an_unknown_format() -> None:
    try:
        logging_config("xml")  # type: ignore[arg-type]
    except ValueError as exc:
        assert "text, json" in str(exc)
    else:
        raise AssertionError("no error")


def test_the_server_logs_json_and_serves_readyz_and_metrics(tmp_path: Path) -> None:
    SQLiteGraphStore(FLEET, Settings(data_dir=tmp_path).sqlite_path).close()  # an empty graph
    ops = next(token for token, role in TOKENS.items() if role == "ops")
    with live_server(tmp_path, log_format="json") as server:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/readyz", timeout=10).json()["status"] == "ready"
        answer = httpx.post(server.url, json={"query": '{ node(id: "site:s1") { id } }'},
                            headers={"authorization": f"Bearer {ops}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert 'fleetgraph_query_seconds_count{field="node"} 1.0' in metrics
        log = server.log
    records = []
    for line in log.read_text().splitlines():
        assert line.startswith("{"), line  # no text line among them
        records.append(json.loads(line))
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "uvicorn.error" and "Uvicorn running on" in r["message"]
               for r in records), records
    assert any(r["logger"] == "uvicorn.access" and "/readyz" in r["message"]
               for r in records), records


def test_the_access_log_can_be_turned_off(tmp_path: Path) -> None:
    SQLiteGraphStore(FLEET, Settings(data_dir=tmp_path).sqlite_path).close()
    ops = next(token for token, role in TOKENS.items() if role == "ops")
    with live_server(tmp_path, log_format="json", access_log="false") as server:
        answer = httpx.post(server.url, json={"query": '{ node(id: "site:s1") { id } }'},
                            headers={"authorization": f"Bearer {ops}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert httpx.get(f"http://127.0.0.1:{server.port}/readyz", timeout=10).status_code == 200
        log = server.log
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(r["logger"] == "uvicorn.error" and "Uvicorn running on" in r["message"]
               for r in records), records
    assert not [r for r in records if r["logger"] == "uvicorn.access"]
