"""Pipeline.process_many (the embedded runner's loop, with dedup noting the origins in
its own walk) against Pipeline.process message by message with the origins noted by
the pipeline (the general path, as for any other dedup): the same counts, dead letters
(malformed messages, store refusals with the messages that made the refused update)
and writes, on simulated streams with defects, in both dedup modes."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import pytest

from fleetgraph.graph_model.records import Upsert
from fleetgraph.ingest.deadletter import DeadLetterList
from fleetgraph.ingest.message import Message
from fleetgraph.ingest.pipeline import Pipeline
from fleetgraph.ingest.stages.dedup import DedupBuffer, DedupMode
from fleetgraph.schemas import load_event_codec
from fleetgraph.simulator import SimulationConfig, simulate_messages

END = 1_763_000_000_000_000


class RefusingSink:
    """Records what it writes; refuses a batch holding an update of one key in ``every``."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.written: list[str] = []

    def write(self, upserts: Sequence[Upsert]) -> None:
        if self.every and any(zlib.crc32(repr(u.key).encode()) % self.every == 0
                              for u in upserts):
            raise ValueError("refused")
        self.written.extend(repr(u) for u in upserts)


def messages(seed: int) -> list[Message]:
    config = SimulationConfig(seed=seed, sites=2, hours=3.0, end_time_us=END,
                              jobs_per_site_per_hour=6.0, telemetry_interval_s=600,
                              malformed_rate=0.03, duplicate_rate=0.1, reorder_rate=0.1)
    return [Message(str(topic), payload, f"t:{i}") for i, (topic, payload, _)
            in enumerate(simulate_messages(config, load_event_codec()))]


def run(stream: list[Message], mode: DedupMode, every: int, *, many: bool
        ) -> tuple[object, ...]:
    sink, letters = RefusingSink(every), DeadLetterList()
    pipeline = Pipeline.for_fleet(sink, letters, clock=lambda: END,
                                  dedup=DedupBuffer(window_us=60_000_000, mode=mode))
    pipeline.batch_size = 64
    seen = []
    if many:
        pipeline.process_many(stream, on_message=lambda: seen.append(pipeline.stats.received))
    else:
        pipeline._buffer = None  # the origins noted by the pipeline, dedup told nothing
        for message in stream:
            pipeline.process(message)
            seen.append(pipeline.stats.received)
    pipeline.flush()
    records = [{k: v for k, v in r.items() if k != "refused_at_us"} for r in letters.records]
    return (pipeline.stats, records, sink.written, pipeline.watermark,
            pipeline.dedup.collapsed, seen)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("mode", ["leading", "trailing"])
@pytest.mark.parametrize("every", [0, 7])
def test_process_many_is_process_message_by_message(seed: int, mode: DedupMode,
                                                    every: int) -> None:
    stream = messages(seed)
    general = run(stream, mode, every, many=False)
    fast = run(stream, mode, every, many=True)
    assert fast == general
    stats = general[0]
    assert stats.rejected["store_refused"] > 0 if every else True  # type: ignore[attr-defined]
    assert sum(stats.rejected.values()) > 0 and stats.upserts > 0  # type: ignore[attr-defined]
