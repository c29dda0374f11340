"""MappedDedup merges like DedupBuffer, keeps its entries in any mapping, and
deletes only what was written and has not changed since. It is no DedupBuffer:
the pipeline's stage over it hands nothing back due, a timer takes it."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.records import EdgeUpsert, NodeUpsert, Provenance, Upsert
from fleetgraph.ingest.kafka.dedup import (
    Due,
    MappedDedup,
    TimerFlushedStage,
    entry_key,
    partition_of,
)
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.stages.dedup import DEDUP_MODES, DedupBuffer, DedupMode
from fleetgraph.storage.embedded import SQLiteGraphStore

T0 = 1_763_000_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _updates(n: int, seed: int = 1) -> list[Upsert]:
    rng = random.Random(seed)
    out: list[Upsert] = []
    for i in range(n):
        t = T0 + rng.randrange(0, 50) * 1_000
        p = Provenance(f"e{i}", f"log:{i}", t, "test")
        if rng.random() < 0.5:
            props: dict[str, object] = (
                {"status": rng.choice(["ok", "fault", None])} if rng.random() < 0.5
                else {"supply_temp_c": rng.choice([None, 20.5, 31.0])}
            )
            out.append(NodeUpsert("cdu", f"cdu:c{rng.randrange(5)}", props, t, p))
        else:
            out.append(EdgeUpsert("cooled_by", f"rack:r{rng.randrange(5)}", "cdu:c0",
                                  {"valid_from": t, "valid_to": None}, t, p))
    return out


def _stored(upserts: list[Upsert]) -> list[tuple[str, tuple[object, ...]]]:
    store = SQLiteGraphStore(FLEET)
    StoreSink(store).write(upserts)
    return list(store.dump())


@pytest.mark.parametrize("mode", DEDUP_MODES)
def test_merges_to_the_same_graph_as_the_in_memory_buffer(mode: DedupMode) -> None:
    updates = _updates(400)
    plain = DedupBuffer(window_us=10**12, mode=mode)
    emitted = plain.add(_updates(400), T0)
    entries: dict[str, dict[str, object]] = {}
    mapped = MappedDedup(entries, window_us=10**12, clock=Clock(), mode=mode)  # type: ignore[arg-type]
    for i, update in enumerate(updates):
        mapped.take_in(i % 3, [update])
    json.dumps(entries)  # what a Faust table's changelog carries
    assert mapped.taken_in == 400
    assert len(mapped) <= 3 * 10
    assert _stored(mapped.drain()) == _stored(emitted + plain.drain())
    assert len(entries) == 0


def test_entries_are_keyed_by_source_partition() -> None:
    update = _updates(1)[0]
    mapped = MappedDedup({}, window_us=1, clock=Clock())
    for partition in (0, 3):
        mapped.take_in(partition, [update])
    assert sorted(partition_of(k) for k in mapped.entries) == [0, 3]
    assert entry_key(3, update).startswith("3|")


def test_takes_what_the_window_passed_and_forgets_only_unchanged_entries() -> None:
    clock = Clock()
    mapped = MappedDedup({}, window_us=1_000_000, clock=clock, mode="trailing")
    a = NodeUpsert("cdu", "cdu:a", {"status": "ok"}, T0, Provenance("e1", "s", T0, "t"))
    b = NodeUpsert("cdu", "cdu:b", {"status": "ok"}, T0, Provenance("e2", "s", T0, "t"))
    mapped.take_in(0, [a])
    clock.now += 600_000
    mapped.take_in(0, [b])
    assert len(mapped.take_due()) == 0
    clock.now += 600_000
    due = mapped.take_due()
    assert [u.id for u in due.upserts] == ["cdu:a"]  # type: ignore[union-attr]
    # "a" changes while its write is on the way: it stays, to be written again
    later = NodeUpsert("cdu", "cdu:a", {"status": "fault"}, T0 + 5,
                       Provenance("e3", "s", T0 + 5, "t"))
    mapped.take_in(0, [later])
    assert mapped.forget(due) == 0
    again = mapped.take_due()
    assert [u.props for u in again.upserts] == [{"status": "fault"}]
    assert mapped.forget(again) == 1
    clock.now += 600_000
    last = mapped.take_due()
    assert [u.id for u in last.upserts] == ["cdu:b"]  # type: ignore[union-attr]
    assert mapped.forget(last) == 1 and len(mapped) == 0


def test_more_entries_than_allowed_are_due_at_once_oldest_first() -> None:
    clock = Clock()
    mapped = MappedDedup({}, window_us=10**9, max_entries=2, clock=clock, mode="trailing")
    for i in range(4):
        clock.now += 1
        mapped.take_in(0, [NodeUpsert("cdu", f"cdu:c{i}", {"status": "ok"}, T0,
                                      Provenance(f"e{i}", "s", T0, "t"))])
    assert [u.id for u in mapped.take_due().upserts] == ["cdu:c0", "cdu:c1"]  # type: ignore[union-attr]


class CountingDict(dict[str, dict[str, object]]):
    """A mapping that counts writes and deletes, as a changelog would."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.deletes = 0

    def __setitem__(self, key: str, value: dict[str, object]) -> None:
        self.writes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.deletes += 1
        super().__delitem__(key)


def _node(n: int, node_id: str = "cdu:a", status: str = "ok") -> NodeUpsert:
    return NodeUpsert("cdu", node_id, {"status": status}, T0 + n,
                      Provenance(f"e{n}", "s", T0 + n, "t"))


def test_write_behind_writes_each_changed_entry_once_per_persist() -> None:
    clock = Clock()
    entries = CountingDict()
    mapped = MappedDedup(entries, window_us=1_000, clock=clock,  # type: ignore[arg-type]
                         write_behind=True)
    for n in range(10):
        mapped.take_in(0, [_node(n)])
    mapped.take_in(0, [_node(0, "cdu:b")])
    assert entries.writes == 0 and len(mapped) == 2
    assert mapped.persist() == 2 and mapped.persist() == 0
    assert entries.writes == 2
    assert entries["0|node|cdu|cdu:a"]["count"] == 10
    # created and flushed between two persists: never written, nothing to delete
    mapped.take_in(0, [_node(0, "cdu:c")])
    clock.now += 2_000
    assert mapped.forget(mapped.take_due()) == 3
    assert (entries.writes, entries.deletes, len(entries)) == (2, 2, 0)


def test_entries_left_in_the_mapping_are_taken_up_after_a_restart() -> None:
    clock = Clock()
    entries: dict[str, dict[str, object]] = {}
    before = MappedDedup(entries, window_us=1_000, clock=clock,  # type: ignore[arg-type]
                         write_behind=True)
    before.take_in(0, [_node(1, status="fault")])
    before.persist()
    after = MappedDedup(entries, window_us=1_000, clock=clock,  # type: ignore[arg-type]
                        write_behind=True)
    after.take_in(0, [_node(0, status="ok")])  # older: merged under the recovered entry
    clock.now += 2_000
    due = after.take_due()
    assert [u.props for u in due.upserts] == [{"status": "fault"}]
    assert after.forget(due) == 1 and entries == {}


def test_dropping_a_revoked_partition_keeps_its_persisted_entries() -> None:
    entries: dict[str, dict[str, object]] = {}
    mapped = MappedDedup(entries, window_us=1_000, clock=Clock(),  # type: ignore[arg-type]
                         write_behind=True)
    for partition in (0, 1):
        mapped.take_in(partition, [_node(partition)])
    mapped.persist()
    assert mapped.drop({1}) == 1
    assert mapped.pending({0}) == 1 and mapped.pending({1}) == 1  # still in the mapping
    assert [partition_of(k) for k in mapped.take_due(everything=True, partitions={0}).versions
            ] == [0]


def test_the_worker_stage_hands_nothing_back_and_the_timer_takes_it() -> None:
    """The contract that differs from DedupBuffer's: whatever the window or the
    number of entries, ``add`` returns nothing due; the entries, under the
    partition of the message in hand, wait for ``take_due``."""
    clock = Clock()
    mapped = MappedDedup({}, window_us=1, max_entries=1, clock=clock)
    stage = TimerFlushedStage(mapped)
    assert not isinstance(mapped, DedupBuffer) and not hasattr(mapped, "add")
    for n in range(3):
        stage.partition = n
        clock.now += 10  # past the window, and beyond max_entries
        assert stage.add([_node(n, f"cdu:c{n}")], T0 + n) == []
    assert sorted(partition_of(key) for key in mapped.entries) == [0, 1, 2]
    assert len(mapped.take_due(partitions={1}).upserts) == 1
    stage.partition = 0
    stage.add([_node(9, "cdu:c0")], T0 + 9)
    assert stage.collapsed == mapped.collapsed == 1
    assert sorted(u.id for u in stage.drain()) == ["cdu:c0", "cdu:c1", "cdu:c2"]  # type: ignore[union-attr]
    assert len(mapped) == 0


def test_the_leading_edge_is_due_at_once_and_the_rest_at_the_window_end() -> None:
    clock = Clock()
    entries = CountingDict()
    mapped = MappedDedup(entries, window_us=1_000, clock=clock,  # type: ignore[arg-type]
                         write_behind=True)
    mapped.take_in(0, [_node(1, status="fault")])
    leading = mapped.take_due(scan=False)  # the short tick looks at the leading edges only
    assert [u.props for u in leading.upserts] == [{"status": "fault"}]
    assert mapped.forget(leading) == 1
    assert len(mapped) == 0 and entries.writes == 0  # emptied, the window still open
    assert len(mapped.take_due(scan=False)) == 0 and len(mapped.take_due()) == 0
    clock.now += 400
    mapped.take_in(0, [_node(2, status="ok")])
    mapped.take_in(0, [_node(0, status="degraded")])  # older: merged under the newer
    assert len(mapped) == 1 and mapped.collapsed == 1
    assert len(mapped.take_due(scan=False)) == 0
    assert len(mapped.take_due()) == 0  # due when the window that opened at T0 ends
    clock.now += 600
    trailing = mapped.take_due()
    assert [u.props for u in trailing.upserts] == [{"status": "ok"}]
    assert mapped.forget(trailing) == 1 and len(mapped) == 0
    # the window has closed: the next update is a leading edge again
    mapped.take_in(0, [_node(3, status="fault")])
    assert len(mapped.take_due(scan=False)) == 1


def test_an_empty_window_closes_without_a_write() -> None:
    clock = Clock()
    mapped = MappedDedup({}, window_us=1_000, clock=clock)
    mapped.take_in(0, [_node(1)])
    mapped.forget(mapped.take_due(scan=False))
    clock.now += 1_000
    assert len(mapped.take_due()) == 0 and mapped.drain() == []
    mapped.take_in(0, [_node(2)])
    assert len(mapped.take_due(scan=False)) == 1


def test_an_entry_updated_while_its_leading_edge_is_written_waits_for_the_window_end() -> None:
    clock = Clock()
    mapped = MappedDedup({}, window_us=1_000, clock=clock)
    mapped.take_in(0, [_node(1, status="fault")])
    leading = mapped.take_due(scan=False)
    mapped.take_in(0, [_node(2, status="ok")])  # while the write is on the way
    assert mapped.forget(leading) == 0
    assert len(mapped.take_due(scan=False)) == 0 and len(mapped.take_due()) == 0
    clock.now += 1_000
    [trailing] = mapped.take_due().upserts
    assert trailing.props == {"status": "ok"}


def test_trailing_mode_holds_even_a_new_key_for_the_window() -> None:
    clock = Clock()
    mapped = MappedDedup({}, window_us=1_000, clock=clock, mode="trailing")
    mapped.take_in(0, [_node(1)])
    assert len(mapped.take_due(scan=False)) == 0 and len(mapped.take_due()) == 0
    clock.now += 1_000
    assert len(mapped.take_due()) == 1


def test_a_crash_after_a_leading_edge_write_and_before_the_commit_replays_to_the_same_graph(
) -> None:
    clock = Clock()
    updates = [_node(1, status="fault"), _node(2, "cdu:b"), _node(3, status="ok")]
    entries: dict[str, dict[str, object]] = {}
    written: list[Upsert] = []
    before = MappedDedup(entries, window_us=1_000, clock=clock,  # type: ignore[arg-type]
                         write_behind=True)
    before.take_in(0, [updates[0]])
    before.persist()  # the commit covers the first update
    before.take_in(0, updates[1:])
    due = before.take_due(scan=False)  # both leading edges written
    written += due.upserts
    before.forget(due)
    # killed before the next commit: the source is read again from the second update
    after = MappedDedup(entries, window_us=1_000, clock=clock,  # type: ignore[arg-type]
                        write_behind=True)
    after.take_in(0, [_node(2, "cdu:b"), _node(3, status="ok")])
    written += after.drain()
    assert _stored(written) == _stored([_node(n, i, s) for n, i, s in
                                        ((1, "cdu:a", "fault"), (2, "cdu:b", "ok"),
                                         (3, "cdu:a", "ok"))])


def test_a_crash_after_the_commit_and_before_the_leading_edge_write_finds_it_due() -> None:
    clock = Clock()
    entries: dict[str, dict[str, object]] = {}
    before = MappedDedup(entries, window_us=10**9, clock=clock,  # type: ignore[arg-type]
                         write_behind=True)
    before.take_in(0, [_node(1, status="fault")])
    before.persist()  # the commit; killed before the timer's tick
    after = MappedDedup(entries, window_us=10**9, clock=clock,  # type: ignore[arg-type]
                        write_behind=True)
    [recovered] = after.take_due().upserts  # due at once, as it was, not at the window's end
    assert recovered.props == {"status": "fault"}


ACTIONS = st.lists(st.sampled_from(["take_in", "take_in", "take_in", "tick", "scan", "clock",
                                    "tick_meanwhile", "scan_meanwhile", "commit", "crash",
                                    "crash_mid_write"]), max_size=60)


class SourcePartition:
    """One source partition read by a worker with a write-behind MappedDedup: its
    updates, how far they were read and committed, the changelog at the commit."""

    def __init__(self, seed: int, mode: DedupMode) -> None:
        self.rng = random.Random(seed)
        self.clock = Clock()
        self.mode = mode
        self.updates = [_random_node(self.rng, n) for n in range(30)]
        self.entries: dict[str, dict[str, object]] = {}
        self.committed_entries: dict[str, dict[str, object]] = {}
        self.read = self.committed = 0
        self.mapped = self._worker()

    def _worker(self) -> MappedDedup:
        return MappedDedup(self.entries, window_us=1_000, clock=self.clock,  # type: ignore[arg-type]
                           write_behind=True, mode=self.mode)

    def take_in(self) -> None:
        if self.read < len(self.updates):
            self.mapped.take_in(0, [_copy_node(self.updates[self.read])])
            self.read += 1

    def commit(self) -> None:
        self.mapped.persist()
        self.committed, self.committed_entries = self.read, dict(self.entries)

    def restart(self, changelog_landed: bool) -> None:
        """A new worker, reading again from the commit (the changelog writes made
        since it reached Kafka, or none did)."""
        if not changelog_landed:
            self.entries = dict(self.committed_entries)
        self.read = self.committed
        self.mapped = self._worker()

    def drained(self) -> list[Upsert]:
        """The rest read, then everything still buffered."""
        while self.read < len(self.updates):
            self.take_in()
        return self.mapped.drain()


@settings(max_examples=120, deadline=None)
@given(ACTIONS, st.integers(0, 10_000), st.booleans(), st.sampled_from(DEDUP_MODES))
def test_crashes_anywhere_lose_nothing(actions: list[str], seed: int, landed: bool,
                                       mode: DedupMode) -> None:
    """A worker's loop, simplified: updates taken in from one source partition, the
    short tick and the scan writing what is due, commits (persist, then the offset),
    crashes at any point (also between a write and its forget), after which the
    updates after the committed offset are read again. ``landed``: the changelog
    writes made since the last commit reached Kafka before the crash, or none did.
    Whatever happened, what was written stores the graph of every update."""
    source = SourcePartition(seed, mode)
    written: list[Upsert] = []
    for action in actions:
        if action == "take_in":
            source.take_in()
        elif action.startswith(("tick", "scan")):
            due = source.mapped.take_due(scan=action.startswith("scan"))
            written += due.upserts
            if action.endswith("meanwhile"):
                source.take_in()
            source.mapped.forget(due)
        elif action == "clock":
            source.clock.now += 400
        elif action == "commit":
            source.commit()
        elif action == "crash":
            source.restart(landed)
        elif action == "crash_mid_write":
            written += source.mapped.take_due().upserts
            source.restart(landed)
    written += source.drained()
    assert _stored(written) == _stored(source.updates)


def _random_node(rng: random.Random, n: int) -> NodeUpsert:
    """An update of one of three CDUs: some of its properties, at a time out of order
    (so that every update may be the one a property's stored value comes from)."""
    t = T0 + rng.randrange(40)
    props = {name: rng.choice(values) for name, values in (
        ("status", ["ok", "fault", None]), ("supply_temp_c", [20.5, 31.0]),
        ("capacity_kw", [None, 100.0])) if rng.random() < 0.5}
    return NodeUpsert("cdu", f"cdu:c{rng.randrange(3)}", props, t,
                      Provenance(f"e{n}", "s", t, "t"))


def _copy_node(node: NodeUpsert) -> NodeUpsert:
    return NodeUpsert(node.type, node.id, dict(node.props), node.ts, node.provenance)


def test_an_entry_in_flight_is_taken_by_no_other_flush_until_forgotten_or_released() -> None:
    """The leading edge's tick and the scan run apart: neither hands out what the
    other is writing; a failed write puts its entries back as they were."""
    clock = Clock()
    mapped = MappedDedup({}, window_us=1_000, clock=clock)
    mapped.take_in(0, [_node(1, status="fault")])
    leading = mapped.take_due(scan=False)
    assert len(leading) == 1
    assert len(mapped.take_due()) == 0 and len(mapped.take_due(scan=False)) == 0
    mapped.release(leading)  # the write failed
    again = mapped.take_due()
    assert [u.props for u in again.upserts] == [{"status": "fault"}]
    mapped.take_in(0, [_node(2, status="ok")])  # while the scan's write is on the way
    clock.now += 1_000
    assert len(mapped.take_due()) == 0  # past its window, but still in flight
    assert mapped.forget(again) == 0  # changed meanwhile: stays
    [trailing] = mapped.take_due().upserts
    assert trailing.props == {"status": "ok"}
    assert len(mapped.drain()) == 1  # a drain takes everything, in flight or not


FLIGHTS = st.lists(st.sampled_from(["take_in", "take_in", "take_in", "tick", "scan", "clock",
                                    "land", "land", "fail", "commit", "crash"]), max_size=80)


@settings(max_examples=150, deadline=None)
@given(FLIGHTS, st.integers(0, 10_000), st.sampled_from(DEDUP_MODES))
def test_overlapping_flushes_take_each_entry_once_and_lose_nothing(
        actions: list[str], seed: int, mode: DedupMode) -> None:
    """Writes in flight at once (the tick's and the scan's), each acknowledged
    ("land", then forgotten) or failed ("fail", then released) in any order,
    commits and crashes between them: no entry is in two writes in flight, and
    what landed stores the graph of every update (the reference: every update
    stored as it came)."""
    source = SourcePartition(seed, mode)
    rng = source.rng
    landed: list[Upsert] = []
    flying: list[Due] = []
    for action in actions:
        if action == "take_in":
            source.take_in()
        elif action in ("tick", "scan"):
            due = source.mapped.take_due(scan=action == "scan")
            in_flight = {key for other in flying for key in other.versions}
            assert not in_flight & set(due.versions)
            if due:
                flying.append(due)
        elif action in ("land", "fail") and flying:
            due = flying.pop(rng.randrange(len(flying)))
            if action == "land":
                landed += due.upserts
                source.mapped.forget(due)
            else:
                source.mapped.release(due)
        elif action == "clock":
            source.clock.now += 400
        elif action == "commit":
            source.commit()
        elif action == "crash":  # what was in flight may or may not have landed
            landed += [u for due in flying if rng.random() < 0.5 for u in due.upserts]
            flying.clear()
            source.restart(changelog_landed=False)
    for due in flying:
        source.mapped.release(due)
    landed += source.drained()
    assert _stored(landed) == _stored(source.updates)


HOLD_US, WINDOW_US, STEP_US = 300, 1_000, 100


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2)), max_size=20),
       st.integers(0, 10_000), st.sampled_from(DEDUP_MODES))
def test_no_update_is_held_longer_than_the_hold(arrivals: list[tuple[int, int]], seed: int,
                                                mode: DedupMode) -> None:
    """Updates of three keys arrive at steps of the clock; the short tick runs at every
    step and the scan at every third. Once the hold (plus a step of the tick) has
    passed since an update came, it is in what was written: the reference, the
    store's merge, stores the same graph with it as without it."""
    rng = random.Random(seed)
    clock = Clock()
    mapped = MappedDedup({}, window_us=WINDOW_US, clock=clock, mode=mode, max_hold_us=HOLD_US)
    came: list[tuple[int, NodeUpsert]] = []
    written: list[Upsert] = []
    by_step: dict[int, list[int]] = {}
    for step, key in arrivals:
        by_step.setdefault(step, []).append(key)
    for step in range(max(by_step, default=0) + WINDOW_US // STEP_US + 2):
        clock.now = T0 + step * STEP_US
        for key in by_step.get(step, []):
            update = _random_node(rng, len(came))
            update.id = f"cdu:c{key}"
            came.append((clock.now, update))
            mapped.take_in(0, [_copy_node(update)])
        due = mapped.take_due(scan=step % 3 == 0)
        written += due.upserts
        mapped.forget(due)
        deadline = [u for t, u in came if clock.now - t == HOLD_US + STEP_US]
        if deadline:  # what was written only grows: each update checked once
            assert _stored(written + [_copy_node(u) for u in deadline]) == _stored(written)
    assert _stored(written) == _stored([u for _, u in came])


def test_a_key_updated_all_the_time_is_written_about_once_a_hold() -> None:
    """The cost of a hold shorter than the window: one write a hold, not one a window
    (nor one an update)."""
    clock = Clock()
    writes = {}
    for hold_us in (WINDOW_US, HOLD_US):
        mapped = MappedDedup({}, window_us=WINDOW_US, clock=clock, max_hold_us=hold_us)
        count = 0
        for step in range(100):  # ten windows, an update at every step
            clock.now = T0 + step * STEP_US
            mapped.take_in(0, [_node(step)])
            due = mapped.take_due(scan=False)
            count += len(due)
            mapped.forget(due)
        writes[hold_us] = count + len(mapped.drain())
    # the leading and trailing edge of each window (a window is a step longer than
    # WINDOW_US here: the update at its end is written with it, the next opens one)
    assert 2 * 9 <= writes[WINDOW_US] <= 2 * 10
    assert 10 * (WINDOW_US // HOLD_US) <= writes[HOLD_US] <= 10 * (WINDOW_US // HOLD_US + 2)


@pytest.mark.parametrize("mode", DEDUP_MODES)
@given(st.lists(st.tuples(st.sampled_from(["in", "tick", "scan", "forget", "release",
                                            "drop", "persist", "wait"]),
                          st.integers(0, 3), st.integers(0, 40)), max_size=120))
@settings(max_examples=60, deadline=None)
def test_waiting_counts_what_a_pass_over_the_entries_counts(
        mode: DedupMode, steps: list[tuple[str, int, int]]) -> None:
    """``waiting`` (counted as entries change, for the backpressure gate) equals a count
    of the entries in memory with updates waiting, by partition, after any sequence of
    updates, takes, writes, failed writes, revocations and persists; with nothing
    recovered into the mapping, it is ``pending``."""
    clock = Clock()
    updates = _updates(41, seed=3)
    mapped = MappedDedup({}, window_us=5_000, clock=clock, write_behind=True, mode=mode,
                         max_entries=8)
    taken: list[Due] = []
    dropped = False  # a revoked partition's persisted entries stay in the mapping
    for action, partition, n in steps:
        if action == "in":
            mapped.take_in(partition, updates[n : n + 3])
        elif action in ("tick", "scan"):
            taken.append(mapped.take_due(scan=action == "scan"))
        elif action in ("forget", "release") and taken:
            due = taken.pop(n % len(taken))
            mapped.forget(due) if action == "forget" else mapped.release(due)
        elif action == "drop":
            mapped.drop({partition})
            dropped = True
        elif action == "persist":
            mapped.persist()
        else:
            clock.now += n * 250
        for partitions in ({0}, {1, 3}, None):
            expected = sum(1 for key, live in mapped._live.items() if live.merged is not None
                           and (partitions is None or partition_of(key) in partitions))
            assert mapped.waiting(partitions) == expected
            assert dropped or mapped.waiting(partitions) == mapped.pending(partitions)
    mapped.drop({0, 1, 2, 3})
    mapped.entries.clear()
    assert mapped.waiting() == mapped.pending() == 0


@pytest.mark.parametrize("mode", DEDUP_MODES)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3_000)), max_size=60),
       st.integers(1, 12), st.integers(0, 8_000))
@settings(max_examples=80, deadline=None)
def test_a_scan_takes_the_due_entries_then_the_oldest_beyond_max_entries(
        mode: DedupMode, arrivals: list[tuple[int, int]], max_entries: int,
        later: int) -> None:
    """A scan takes every entry due, then, while more than ``max_entries`` wait, the
    oldest of the rest: the head of all entries ordered by due time and first seen
    (what a drain of everything returns) cut where those two rules stop."""
    updates = _updates(41, seed=5)
    clocks = [Clock() for _ in range(3)]
    scanned, drained, unbounded = (
        MappedDedup({}, window_us=5_000, clock=clocks[0], mode=mode, max_entries=max_entries),
        MappedDedup({}, window_us=5_000, clock=clocks[1], mode=mode, max_entries=10**6),
        MappedDedup({}, window_us=5_000, clock=clocks[2], mode=mode, max_entries=10**6))
    for n, step in arrivals:
        for clock, mapped in zip(clocks, (scanned, drained, unbounded), strict=True):
            clock.now += step
            mapped.take_in(0, [updates[n]])  # one partition: one entry a key
    for clock in clocks:
        clock.now += later
    every = [(u.type, u.key) for u in drained.take_due(everything=True).upserts]
    due = [(u.type, u.key) for u in unbounded.take_due().upserts]
    beyond = len(every) - max_entries - len(due)
    expected = due + [u for u in every if u not in due][:max(0, beyond)]
    assert [(u.type, u.key) for u in scanned.take_due().upserts] == expected
