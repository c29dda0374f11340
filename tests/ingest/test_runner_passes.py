"""The embedded runner's two passes (side inputs, then the rest) each run on their own
dedup clock: a late inventory change does not hold the main pass's windows open.

Found by the quick bench's memory figure: the side-input pass moved the dedup clock
to the newest inventory change, the main pass started with it stuck there, and every
key it updated stayed in dedup until the stream caught up (thousands of entries on
eight sites, up to ``max_entries`` on a long log)."""

from __future__ import annotations

from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.runner import SIDE_INPUTS, run_embedded
from fleetgraph.ingest.stages.dedup import DedupBuffer
from fleetgraph.schemas import load_event_codec
from fleetgraph.simulator import SimulationConfig, simulate_messages

END = 1_763_000_000_000_000
WINDOW_US = 5_000_000


class Discard:
    def write(self, upserts: object) -> None:
        pass


def stream() -> list[Message]:
    config = SimulationConfig(seed=5, sites=2, hours=6.0, end_time_us=END,
                              jobs_per_site_per_hour=4.0, telemetry_interval_s=300,
                              malformed_rate=0.0)
    return [Message(str(topic), payload, f"t:{i}") for i, (topic, payload, _)
            in enumerate(simulate_messages(config, load_event_codec()))]


def with_late_inventory_change(messages: list[Message], at_us: int) -> list[Message]:
    """``messages`` and a copy of their first inventory event, timed ``at_us``."""
    codec = load_event_codec()
    first = next(m for m in messages if m.topic in SIDE_INPUTS)
    _, event = codec.decode(first.payload)
    event = {**event, "event_time": at_us, "event_id": "late-inventory-change"}
    late = Message(first.topic, codec.encode(first.topic, event), "t:late")
    return [*messages, late]


def main_pass_buffer_sizes(messages: list[Message]) -> tuple[list[int], Pipeline]:
    """The dedup buffer's size after each message of the main pass."""
    dedup = DedupBuffer(window_us=WINDOW_US)
    pipeline = Pipeline.for_fleet(Discard(), DeadLetterList(), clock=lambda: END + 1,
                                  dedup=dedup)
    sizes: list[int] = []
    in_main_pass = False

    def main_pass() -> None:
        nonlocal in_main_pass
        in_main_pass = True
        assert len(dedup) == 0  # the side inputs' updates are written before it

    def note() -> None:
        if in_main_pass:
            sizes.append(len(dedup))

    run_embedded(pipeline, lambda: messages, on_message=note, on_side_inputs=main_pass)
    return sizes, pipeline


def test_a_late_side_input_does_not_hold_the_main_pass_windows_open() -> None:
    messages = stream()
    late_at = END - 1_000_000
    plain, _ = main_pass_buffer_sizes(messages)
    late, pipeline = main_pass_buffer_sizes(with_late_inventory_change(messages, late_at))
    assert len(late) == len(plain) > 1000
    # the same main pass, the same windows: the late change changes nothing in them
    assert late == plain
    assert max(late) < 100  # a window's traffic, not the stream's
    # the run's newest event time is still the late change's (the store's watermark)
    assert pipeline.newest_event_time == late_at
