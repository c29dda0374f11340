"""The dedup gate: the source agents take no message while the buffer is full, and
what they hold back is processed later, not lost: the graph is the embedded runner's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fleetgraph.graph_model import FLEET
from fleetgraph.ingest.kafka.backpressure import DedupGate, scan_bound
from fleetgraph.ingest.kafka.dedup import MappedDedup
from fleetgraph.ingest.kafka.processor import SourceProcessors
from fleetgraph.ingest.kafka.sideinput import InventorySideInput
from fleetgraph.ingest.kafka.sinks import TopicDeadLetters
from fleetgraph.ingest.kafka.topics import TopicNames
from fleetgraph.ingest.sinks import StoreSink
from fleetgraph.ingest.stages.validate import Validator
from fleetgraph.schemas import load_event_codec
from fleetgraph.storage.embedded import SQLiteGraphStore
from tests.kafka.fleet import END_US, fleet_messages, run_embedded_on
from tests.kafka.graph_rows import differences, rows_without_source

NAMES = TopicNames("fg.")


class Counted:
    def __init__(self, value: int = 0) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.value


def _ready() -> asyncio.Event:
    ready = asyncio.Event()
    ready.set()
    return ready


def test_the_gate_is_open_only_while_the_side_input_is_ready_and_the_buffer_not_full() -> None:
    now = [0.0]
    pending = Counted(10)
    side_input = asyncio.Event()
    gate = DedupGate(side_input, pending, 10, refresh_s=0.5, clock=lambda: now[0])
    assert not gate.is_set() and pending.calls == 0  # the side input first
    side_input.set()
    assert gate.is_set()  # at the bound: open
    pending.value = 11
    assert gate.is_set() and pending.calls == 1  # counted at most every refresh_s
    now[0] = 0.5
    assert not gate.is_set() and gate.holds == 1
    now[0] = 2.0
    pending.value = 3
    assert gate.is_set()
    assert gate.holds == 1 and gate.held_s == pytest.approx(1.5)


def test_the_gate_stays_open_during_a_rebalance() -> None:
    rebalancing = [True]
    gate = DedupGate(_ready(), Counted(50), 10, rebalancing=lambda: rebalancing[0],
                     refresh_s=0.0)
    assert gate.is_set()
    rebalancing[0] = False
    assert not gate.is_set()


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        DedupGate(_ready(), Counted(), 0)


def test_the_scan_writes_beyond_half_the_bound() -> None:
    dedup = MappedDedup({}, window_us=10**12, max_entries=scan_bound(300))
    assert dedup.max_entries == 150


@pytest.mark.parametrize("bound", [30, 80])
def test_held_messages_are_processed_later_and_the_graph_is_the_embedded_runners(
        tmp_path: Path, bound: int) -> None:
    """An agent feeds every message through the gate while a flush loop writes the due
    entries: no message is taken while the buffer holds more than the bound, the agent
    was held, and nothing is lost."""
    messages = list(fleet_messages())
    validator = Validator(FLEET, clock=lambda: END_US)
    embedded = run_embedded_on(messages, tmp_path / "embedded.sqlite", validator)

    codec = load_event_codec()
    clock = [END_US]  # a millisecond a message: a key's window spans 2,000 messages
    dedup = MappedDedup({}, window_us=2_000_000, clock=lambda: clock[0],
                        max_entries=scan_bound(bound))
    dead: list[tuple[str, bytes | None, bytes]] = []
    processors = SourceProcessors(
        FLEET, codec, NAMES, dedup, StoreSink(SQLiteGraphStore(FLEET)),
        TopicDeadLetters(NAMES.deadletter, lambda t, k, v: dead.append((t, k, v))),
        validator=validator)
    side_input = InventorySideInput(codec, validator, processors.topology)
    for topic, payload, _ in messages:  # the side input is read first, as on a worker
        if topic == "inventory":
            side_input.apply(payload)
    store = SQLiteGraphStore(FLEET, tmp_path / "gated.sqlite")
    written = StoreSink(store)
    gate = DedupGate(_ready(), dedup.pending, bound, refresh_s=0.0)
    admitted_at: list[int] = []  # the buffer's size when each message was taken

    async def agent() -> None:
        for offset, (topic, payload, _) in enumerate(messages):
            if not gate.is_set():
                await gate.wait()
            admitted_at.append(dedup.pending())
            processors.process(f"fg.{topic}", offset % 4, offset, payload)
            clock[0] += 1_000
            await asyncio.sleep(0)

    async def flush(done: asyncio.Task[None]) -> None:
        turns = 0
        while not done.done():  # leading edges every turn of the loop, a scan every 100
            await asyncio.sleep(0)
            turns += 1
            due = dedup.take_due(scan=turns % 100 == 0)
            written.write(due.upserts)
            dedup.forget(due)

    async def run() -> None:
        feeding = asyncio.create_task(agent())
        await asyncio.gather(feeding, flush(feeding))

    asyncio.run(run())
    written.write(dedup.drain())

    assert gate.holds > 0, "the gate never held the agent: the test proves nothing"
    assert max(admitted_at) <= bound < max(admitted_at) + 40  # held at the bound, not below
    assert processors.counts()["received"] == len(messages)
    assert differences(rows_without_source(embedded.store), rows_without_source(store)) == []
    assert len(dead) == len(embedded.dead_letters.records)
