"""The scheduler client's token: FLEETGRAPH_CLIENT_TOKEN (one of the server's
FLEETGRAPH_API_TOKENS keys); the old FLEETGRAPH_API_TOKEN still read, with a warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from fleetgraph.clients.scheduler.client import token_from_environment


@pytest.fixture(autouse=True)
def no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def test_the_client_token_is_read_by_its_name() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert token_from_environment({"FLEETGRAPH_CLIENT_TOKEN": "s3cret"}) == "s3cret"
    assert token_from_environment({}) is None


def test_the_old_name_works_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="use FLEETGRAPH_CLIENT_TOKEN"):
        assert token_from_environment({"FLEETGRAPH_API_TOKEN": "old"}) == "old"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name set: no warning, it wins
        assert token_from_environment({"FLEETGRAPH_API_TOKEN": "old",
                                       "FLEETGRAPH_CLIENT_TOKEN": "new"}) == "new"


def test_a_dotenv_file_gives_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FLEETGRAPH_CLIENT_TOKEN=from-file\n")
    assert token_from_environment({}) == "from-file"
    assert token_from_environment({"FLEETGRAPH_CLIENT_TOKEN": "env"}) == "env"
