"""Time-ordered adjacency: a window read on an interval edge type finds exactly the
edges a brute-force filter of the merged events finds, on both backends, and reads
a number of rows bounded by the window, not by the node's history.

The oracle folds the events itself (per property, the newest event time wins) and
filters with the window's rule written out here, independently of the stores.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, Provenance
from fleetgraph.storage.base import Direction, GraphStore, StorageError, TimeWindow
from fleetgraph.storage.cassandra.schema import (
    FUTURE_PERIOD,
    PERIOD_US,
    EdgeNamespace,
    period_of,
    periods_after,
)
from fleetgraph.storage.cassandra.writes import OPEN_UNTOUCHED_TS, plan_edge, plan_index
from fleetgraph.storage.embedded import SQLiteGraphStore
from fleetgraph.storage.embedded.tables import SPAN_WIDTHS_US

HOUR = 3600 * 1_000_000
DAY = 24 * HOUR
NOW = time.time_ns() // 1000
JOBS = [f"job:j{i}" for i in range(12)]
SERVERS = ["server:s0", "server:s1", "server:s2"]
Event = tuple[str, str, int, dict[str, Any], str]  # from, to, event time, props, event id


def upsert(event: Event) -> EdgeUpsert:
    from_id, to_id, ts, props, event_id = event
    return EdgeUpsert("ran_on", from_id, to_id, dict(props), ts,
                      Provenance(event_id, "test:0", ts, "time-ordered-test"))


def random_events(rng: random.Random) -> list[Event]:
    """Opens, closes (some before their open, some never opened), reopenings at
    another start, property updates; every event time distinct, over eight days."""
    times = iter(rng.sample(range(NOW - 8 * DAY, NOW, 1000), 400))
    events: list[Event] = []
    for job in JOBS:
        for server in rng.sample(SERVERS, rng.randint(1, 3)):
            for _ in range(rng.randint(1, 4)):
                t = next(times)
                kind = rng.random()
                if kind < 0.4:
                    props: dict[str, Any] = {"valid_from": t, "valid_to": None}
                elif kind < 0.75:  # a close, its end sometimes far from its event time
                    end = t if rng.random() < 0.7 else t - rng.randint(0, 3 * DAY)
                    props = {"valid_to": end}
                elif kind < 0.85:  # a start written without touching the end
                    props = {"valid_from": t - rng.randint(0, 2 * DAY)}
                else:
                    props = {"gpus": rng.randint(1, 8)}
                events.append((job, server, t, props, f"e{len(events)}"))
    return events


def merged(events: list[Event]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per pair, per property, the value of the newest write."""
    newest: dict[tuple[str, str], dict[str, tuple[int, Any]]] = {}
    for from_id, to_id, ts, props, _ in events:
        cells = newest.setdefault((from_id, to_id), {})
        for name, value in props.items():
            if name not in cells or ts > cells[name][0]:
                cells[name] = (ts, value)
    return {pair: {k: v for k, (_, v) in cells.items() if v is not None}
            for pair, cells in newest.items()}


def brute_force(state: dict[tuple[str, str], dict[str, Any]], near: str, direction: Direction,
                start: int | None, end: int | None) -> list[tuple[str, Any, Any]]:
    found = []
    for (from_id, to_id), props in state.items():
        if (from_id if direction is Direction.OUT else to_id) != near:
            continue
        vf, vt = props.get("valid_from"), props.get("valid_to")
        if (vf is None or end is None or vf < end) and (vt is None or start is None or vt > start):
            found.append((to_id if direction is Direction.OUT else from_id, vf, vt))
    return sorted(found)


def windows(rng: random.Random) -> Iterator[TimeWindow]:
    yield TimeWindow(NOW - HOUR, NOW)
    yield TimeWindow.at(NOW - 3 * DAY)
    yield TimeWindow(NOW - 9 * DAY, None)
    yield TimeWindow(None, NOW - 4 * DAY)
    yield TimeWindow(NOW + DAY, NOW + 2 * DAY)
    for _ in range(12):
        a, b = sorted(rng.randint(NOW - 9 * DAY, NOW + DAY) for _ in range(2))
        yield TimeWindow(a, b)


def answers(store: GraphStore, window: TimeWindow) -> dict[tuple[str, Direction], list[Any]]:
    got = {}
    for direction, ids in ((Direction.OUT, JOBS), (Direction.IN, SERVERS)):
        for near, edges in store.neighbours("ran_on", ids, direction, window).items():
            got[near, direction] = [(e.other(near), e.props.get("valid_from"),
                                     e.props.get("valid_to")) for e in edges]
    return got


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_window_reads_equal_a_brute_force_filter_of_the_merged_events(
    store_factory: Callable[[], GraphStore], seed: int
) -> None:
    rng = random.Random(seed)
    events = random_events(rng)
    replayed = events + rng.sample(events, len(events) // 3)  # duplicates and replays
    rng.shuffle(replayed)  # out of order: closes before opens, old after new
    store = store_factory()
    for i in range(0, len(replayed), 50):
        store.upsert_edges([upsert(e) for e in replayed[i : i + 50]])
    state = merged(events)
    for window in windows(rng):
        expected = {
            (near, direction): brute_force(state, near, direction, window.start, window.end)
            for direction, ids in ((Direction.OUT, JOBS), (Direction.IN, SERVERS))
            for near in ids
        }
        assert answers(store, window) == expected, window


def test_a_window_read_on_a_long_history_reads_rows_of_the_window_only(
    store_factory: Callable[[], GraphStore]
) -> None:
    """A server that ran a job an hour for 60 days: a read of the last two hours fetches
    a few rows, however long the history (counted by the store, not timed)."""
    store = store_factory()
    server = "server:busy"
    events = []
    for i in range(60 * 24):
        start = NOW - (60 * 24 - i) * HOUR
        job = f"job:h{i}"
        events += [(job, server, start, {"valid_from": start, "valid_to": None}, f"o{i}"),
                   (job, server, start + HOUR - 1, {"valid_to": start + HOUR - 1}, f"c{i}")]
    events.append(("job:now", server, NOW - HOUR // 2,
                   {"valid_from": NOW - HOUR // 2, "valid_to": None}, "o-now"))
    for i in range(0, len(events), 500):
        store.upsert_edges([upsert(e) for e in events[i : i + 500]])
    before = store.rows_read  # type: ignore[attr-defined]
    window = TimeWindow(NOW - 2 * HOUR, NOW)
    got = store.neighbours("ran_on", [server], Direction.IN, window)[server]
    fetched = store.rows_read - before  # type: ignore[attr-defined]
    assert [e.from_id for e in got] == sorted(["job:h1438", "job:h1439", "job:now"])
    assert fetched <= 12, fetched  # index entries and live rows of about three jobs
    before = store.rows_read  # type: ignore[attr-defined]
    everything = store.neighbours("ran_on", [server], Direction.IN)[server]
    assert len(everything) == 60 * 24 + 1
    assert store.rows_read - before == len(everything)  # type: ignore[attr-defined]


def test_a_node_with_many_open_edges_reads_them_all(
    store_factory: Callable[[], GraphStore]
) -> None:
    """More open candidates than the index path fetches by key (Cassandra then reads the
    partitions whole): the same answer."""
    store = store_factory()
    server = "server:wide"
    events = [(f"job:w{i:03}", server, NOW - DAY + i, {"valid_from": NOW - DAY + i,
                                                      "valid_to": None}, f"w{i}")
              for i in range(450)]
    events += [(f"job:w{i:03}", server, NOW - HOUR + i, {"valid_to": NOW - HOUR + i}, f"x{i}")
               for i in range(0, 450, 9)]
    store.upsert_edges([upsert(e) for e in events])
    state = merged(events)
    for window in (TimeWindow(NOW - 30 * 60 * 1_000_000, NOW), TimeWindow.at(NOW - 2 * HOUR)):
        got = store.neighbours("ran_on", [server], Direction.IN, window)[server]
        assert [(e.from_id, e.props.get("valid_from"), e.props.get("valid_to")) for e in got] \
            == brute_force(state, server, Direction.IN, window.start, window.end)


def test_sqlite_answers_a_window_with_range_scans_of_the_time_index() -> None:
    store = SQLiteGraphStore(FLEET, ":memory:")
    table = store._edges["ran_on"]
    for near, far, index in (("from_id", "to_id", "edge_ran_on_out_span"),
                             ("to_id", "from_id", "edge_ran_on_in_span")):
        sql, params = table.adjacency_sql(near, far, ["a", "b"], TimeWindow(NOW - DAY, NOW), "")
        db = store._db
        plan = [row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        scans = [step for step in plan if "edge_ran_on" in step]
        # the open edges (without a start, starting before the end), one per class of
        # closed spans (a range of starts), the closed edges without a start
        assert len(scans) == len(SPAN_WIDTHS_US) + 3, plan
        assert all(f"USING INDEX {index} ({near}=? AND span_class=?" in s for s in scans), plan
        ranges = [s for s in scans if "p_valid_from>? AND p_valid_from<?" in s]
        assert len(ranges) == len(SPAN_WIDTHS_US), plan
    assert isinstance(store._db, sqlite3.Connection)
    store.close()


def _sqlite_steps(store: SQLiteGraphStore, read: Callable[[], object]) -> int:
    """SQLite's virtual-machine instructions (in hundreds) that ``read`` runs: what the
    scans cost in the engine, counted, index entries passed over included."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store._db.set_progress_handler(count, 100)
    try:
        read()
    finally:
        store._db.set_progress_handler(None, 0)
    return steps


def test_sqlite_reads_a_window_in_the_past_as_one_near_now() -> None:
    """Jobs of an hour on one server for 60 days: a two-hour window 30 days ago costs
    SQLite's engine about what one ending now does (the end indexes it replaced passed
    over the 30 days of edges ending after the window's start, 15x as many steps)."""
    store = SQLiteGraphStore(FLEET, ":memory:")
    server = "server:busy"
    events: list[Event] = []
    for i in range(60 * 24):
        start = NOW - (60 * 24 - i) * HOUR
        events += [(f"job:h{i}", server, start, {"valid_from": start}, f"o{i}"),
                   (f"job:h{i}", server, start + HOUR, {"valid_to": start + HOUR}, f"c{i}")]
    store.upsert_edges([upsert(e) for e in events])

    def read(window: TimeWindow) -> Callable[[], object]:
        return lambda: store.neighbours("ran_on", [server], Direction.IN, window)

    now = _sqlite_steps(store, read(TimeWindow(NOW - 2 * HOUR, NOW)))
    past = _sqlite_steps(store, read(TimeWindow(NOW - 30 * DAY, NOW - 30 * DAY + 2 * HOUR)))
    everything = _sqlite_steps(store, read(TimeWindow(NOW - 61 * DAY, NOW)))
    assert past <= 2 * now + 2, (past, now)
    assert everything > 20 * past, (everything, past)
    store.close()


def _old_layout(path: Path) -> None:
    """Turn a store of this layout into one of the layout before the span classes: the
    end indexes on (near, p_valid_to), no span_class column."""
    db = sqlite3.connect(path)
    for side, near in (("out", "from_id"), ("in", "to_id")):
        db.execute(f"DROP INDEX edge_ran_on_{side}_span")
        db.execute(f"CREATE INDEX edge_ran_on_{side}_end ON edge_ran_on ({near}, p_valid_to)")
    db.execute("ALTER TABLE edge_ran_on DROP COLUMN span_class")
    db.commit()
    db.close()


def test_a_store_of_the_earlier_layout_is_migrated_in_place(tmp_path: Path) -> None:
    """Opened with schema='init', a store with the end indexes gets the span column and
    its indexes, loses the end indexes and answers as before; schema='check' refuses it."""
    path = tmp_path / "old.sqlite"
    rng = random.Random(7)
    events = random_events(rng)
    store = SQLiteGraphStore(FLEET, path)
    store.upsert_edges([upsert(e) for e in events])
    store.close()
    _old_layout(path)
    with pytest.raises(StorageError, match="schema='init'"):
        SQLiteGraphStore(FLEET, path, schema="check")
    store = SQLiteGraphStore(FLEET, path)
    names = {row[0] for row in store._db.execute("SELECT name FROM sqlite_master")}
    assert {"edge_ran_on_out_span", "edge_ran_on_in_span"} <= names
    assert not {"edge_ran_on_out_end", "edge_ran_on_in_end"} & names
    state = merged(events)
    for window in windows(rng):
        assert answers(store, window) == {
            (near, direction): brute_force(state, near, direction, window.start, window.end)
            for direction, ids in ((Direction.OUT, JOBS), (Direction.IN, SERVERS))
            for near in ids
        }, window
    assert store.init_schema() == []  # nothing left to migrate
    store.close()
    SQLiteGraphStore(FLEET, path, schema="check").close()


# --- the Cassandra planner, without a server -------------------------------------------
def test_index_entries_come_out_of_plan_edge_with_last_write_wins_timestamps() -> None:
    namespace = EdgeNamespace.for_type("x_", FLEET.edge("ran_on"), {})
    assert namespace.index is not None
    opened = upsert(("job:a", "server:s", NOW, {"valid_from": NOW, "valid_to": None}, "o"))
    closed = upsert(("job:a", "server:s", NOW + 5, {"valid_to": NOW + 5}, "c"))
    update = upsert(("job:a", "server:s", NOW + 9, {"gpus": 2}, "g"))
    by_table = {(w.table.name, w.params[1]): w for w in plan_edge(namespace, opened, NOW)}
    assert by_table["open_out", True].params == (2 * NOW + 3, True, "job:a", "server:s")
    assert by_table["open_in", True].params == (2 * NOW + 3, True, "server:s", "job:a")
    assert not any(name.startswith("ends") for name, _ in by_table)
    writes = plan_index(namespace.index, closed, NOW)
    ends = [w for w in writes if w.table.name == "ends_in"]
    assert ends[0].params == (NOW + 5, True, "server:s", (NOW + 5) // PERIOD_US, NOW + 5, "job:a")
    assert ends[0].partition == (ends[0].table.qualified, "server:s", (NOW + 5) // PERIOD_US)
    closing = [w for w in writes if w.table.name == "open_out"]
    assert closing[0].params[:2] == (2 * (NOW + 5) + 2, None)  # deletes the cell
    assert closing[0].params[0] > 2 * NOW + 3  # a later close beats the earlier open
    untouched = [w for w in plan_index(namespace.index, update, NOW) if w.table.name == "open_in"]
    assert untouched[0].params[:2] == (OPEN_UNTOUCHED_TS, True)
    plain = EdgeNamespace.for_type("x_", FLEET.edge("used_model"), {})
    used = EdgeUpsert("used_model", "job:a", "model:m", {}, NOW, Provenance("u", "t", NOW, "w"))
    assert {w.table.name for w in plan_edge(plain, used, NOW)} == {"out_edges", "in_edges"}


def test_ends_far_in_the_future_go_to_a_partition_every_reader_reads() -> None:
    assert period_of(NOW + 10 * DAY, NOW) == FUTURE_PERIOD
    assert period_of(NOW + DAY, NOW) == (NOW + DAY) // PERIOD_US
    periods = periods_after(NOW - 3 * DAY, NOW)
    assert periods[0] == (NOW - 3 * DAY) // PERIOD_US and periods[-1] == FUTURE_PERIOD
    assert (NOW + DAY) // PERIOD_US in periods  # a writer's clock a day ahead


@pytest.mark.integration
def test_an_index_added_to_existing_data_is_used_only_once_reindexed(
    cassandra_graphs: Any,
) -> None:
    """Data written before the index existed: `storage init` makes it pending, reads
    go the old way (same answers), `reindex` fills it and reads use it."""
    store = cassandra_graphs.store()
    try:
        rng = random.Random(7)
        events = random_events(rng)
        store.upsert_edges([upsert(e) for e in events])
        index = store._edges["ran_on"].index
        for table in index.tables:  # as a store of the previous layout would be
            store.session.execute(f"DROP TABLE {table.qualified}")
        store._cluster.refresh_schema_metadata()
        made = store.init_schema()
        assert len(made) == 4 and all("pending" in cql for cql in made)
        store.refresh_index_state()
        assert "ran_on" not in store._indexed
        assert "(run `fleetgraph storage reindex`)" in "\n".join(store.describe().lines)
        state = merged(events)
        window = TimeWindow(NOW - 2 * DAY, NOW - DAY)

        def expected() -> dict[tuple[str, Direction], list[Any]]:
            return {(near, direction): brute_force(state, near, direction, window.start,
                                                   window.end)
                    for direction, ids in ((Direction.OUT, JOBS), (Direction.IN, SERVERS))
                    for near in ids}

        assert answers(store, window) == expected()  # the old way
        done = store.reindex()
        assert done["ran_on"] == len(state)
        assert "ran_on" in store._indexed and store.init_schema() == []
        late = ("job:j0", "server:s0", NOW - 36 * HOUR,
                {"valid_from": NOW - 40 * HOUR, "valid_to": None}, "late")
        store.upsert_edges([upsert(late)])  # a write after the reindex indexes itself
        events.append(late)
        state = merged(events)
        before = store.rows_read
        assert answers(store, window) == expected()  # through the index
        assert store.rows_read > before
    finally:
        cassandra_graphs.release(store, written_elsewhere=True)
