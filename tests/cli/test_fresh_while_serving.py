"""``ingest --fresh`` while a server reads the store: the server answers from what was
ingested last, never from a deleted file; a store whose file is replaced or removed
notices it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fleetgraph.cli.main import cli, simulate_to_log
from fleetgraph.graph_model import FLEET
from fleetgraph.serving.app import create_app
from fleetgraph.storage.base import StorageError
from fleetgraph.storage.embedded import SQLiteGraphStore

SITES = '{ nodes(type: "site", first: 100) { items { id } } }'


def served_sites(store: SQLiteGraphStore) -> int:
    async def ask() -> int:
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as http:
            response = await http.post("/graphql", json={"query": SITES})
        body = response.json()
        assert "errors" not in body, body
        return len(body["data"]["nodes"]["items"])

    return asyncio.run(ask())


def ingest(tmp: Path, log: Path, db: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp), "ingest", str(log), "--db",
                                      str(db), "--fresh"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("logs")
    big, small = folder / "six.avro", folder / "two.avro"
    simulate_to_log(big, sites=6, hours=1, seed=3, malformed_rate=0)
    simulate_to_log(small, sites=2, hours=1, seed=4, malformed_rate=0)
    return big, small


def test_a_server_answers_from_the_store_a_fresh_ingest_made(
    tmp_path: Path, logs: tuple[Path, Path],
) -> None:
    big, small = logs
    db = tmp_path / "graph.sqlite"
    ingest(tmp_path, big, db)
    store = SQLiteGraphStore(FLEET, db)
    try:
        assert served_sites(store) == 6
        ingest(tmp_path, small, db)
        assert served_sites(store) == 2
    finally:
        store.close()


def test_a_store_reopens_a_replaced_file_and_refuses_a_removed_one(
    tmp_path: Path, logs: tuple[Path, Path],
) -> None:
    big, small = logs
    db, other = tmp_path / "graph.sqlite", tmp_path / "other.sqlite"
    ingest(tmp_path, big, db)
    ingest(tmp_path, small, other)
    store = SQLiteGraphStore(FLEET, db, file_check_s=0)
    try:
        assert served_sites(store) == 6
        shutil.copy(other, tmp_path / "copy.sqlite")
        (tmp_path / "copy.sqlite").replace(db)  # a new file under the store's name
        assert served_sites(store) == 2
        db.unlink()
        with pytest.raises(StorageError, match="was removed"):
            store.scan_nodes("site", None, 10)
    finally:
        store.close()
