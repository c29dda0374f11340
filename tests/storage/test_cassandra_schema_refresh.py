"""Reading the schema again after one timed-out read (no server: a stand-in cluster)."""

from __future__ import annotations

from typing import Any

import pytest
from cassandra import DriverException, OperationTimedOut

from fleetgraph.storage.base import StorageError
from fleetgraph.storage.cassandra import session


class Cluster:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    def refresh_schema_metadata(self, **_: Any) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def test_a_timed_out_schema_read_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session.time, "sleep", lambda _: None)
    cluster = Cluster([DriverException("Schema metadata was not refreshed"),
                       OperationTimedOut("control connection")])
    session.refresh_schema(cluster, "127.0.0.1:9042", attempts=3)
    assert cluster.calls == 3


def test_the_last_failure_names_the_node_and_the_action(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session.time, "sleep", lambda _: None)
    cluster = Cluster([DriverException("Schema metadata was not refreshed")] * 3)
    with pytest.raises(StorageError, match=r"127.0.0.1:9042: reading the schema failed"):
        session.refresh_schema(cluster, "127.0.0.1:9042", attempts=3)
    assert cluster.calls == 3
