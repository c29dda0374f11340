"""What a real stream adds to clean events: duplicates, late arrivals, heartbeats, junk.

:func:`deliver` turns clean events in event-time order into arrival order:
some events arrive late (up to ``reorder_max_delay_s``), some twice (the same
id and content, up to ``duplicate_max_delay_s`` later), and heartbeats are
mixed in. :class:`MalformedMessages` makes the messages a consumer must refuse
or dead-letter, each labelled with its defect.
"""

from __future__ import annotations

import heapq
import io
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import fastavro

from fleetgraph.schemas.codec import HEADER_LENGTH, MAGIC, EventCodec, SchemaError
from fleetgraph.schemas.topics import RECORD_OF_TOPIC, Topic
from fleetgraph.simulator.config import DAY_US, SECOND_US, SimulationConfig
from fleetgraph.simulator.events import SimEvent, telemetry_event

HEARTBEAT_MAX_LAG_US = 30 * SECOND_US
BYTE_DEFECTS = ("truncated", "unknown_fingerprint", "missing_field", "wrong_type")
CONTENT_DEFECTS = ("oversized_string", "unknown_id_type", "far_future", "out_of_range")
DEFECTS = BYTE_DEFECTS + CONTENT_DEFECTS
OVERSIZED_LENGTH = 100_000
FAR_FUTURE_US = int(50 * 365.25 * DAY_US)
IMPOSSIBLE_SUPPLY_TEMP_C = 900.0
MAIN_ID = {
    Topic.TELEMETRY: "component_id",
    Topic.INVENTORY: "component_id",
    Topic.JOBS: "job_id",
    Topic.ARTIFACTS: "artifact_id",
}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _plain(schema: Any) -> Any:
    """A schema as written, without fastavro's bookkeeping keys."""
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


def copy_event(sim: SimEvent) -> SimEvent:
    """An independent copy (same id, same content) for a re-delivery."""
    return SimEvent(sim.topic, _copy(sim.event))


def deliver(
    clean: Iterable[SimEvent],
    config: SimulationConfig,
    heartbeat_sources: Sequence[tuple[str, str]],
    end_us: int,
) -> Iterator[SimEvent]:
    """Clean events (in event-time order) in arrival order, with the noise mixed in.

    ``heartbeat_sources`` are (component id, site id) pairs that send heartbeats;
    heartbeats are kept before ``end_us``.
    """
    rng = random.Random(f"{config.seed}:noise")
    reorder_us = config.reorder_max_delay_s * SECOND_US
    duplicate_us = config.duplicate_max_delay_s * SECOND_US
    pending: list[tuple[int, int, SimEvent]] = []  # (arrival, sequence, event)
    sequence = heartbeats = 0
    push, pop = heapq.heappush, heapq.heappop
    for sim in clean:
        t = sim.event["event_time"]
        # everything still to come arrives at or after t: what is due by t goes first
        while pending and pending[0][0] <= t:
            yield pop(pending)[2]
        if rng.random() < config.reorder_rate:
            arrival = t + rng.randrange(SECOND_US, reorder_us + 1)
            push(pending, (arrival, sequence, sim))
        else:
            arrival = t
            yield sim
        if rng.random() < config.duplicate_rate:
            later = arrival + rng.randrange(SECOND_US, duplicate_us + 1)
            push(pending, (later, sequence + 1, copy_event(sim)))
        if heartbeat_sources and rng.random() < config.heartbeat_rate:
            beat = t + rng.randrange(HEARTBEAT_MAX_LAG_US)
            if beat < end_us:
                heartbeats += 1
                component, site = heartbeat_sources[rng.randrange(len(heartbeat_sources))]
                event_id = f"telemetry-h{heartbeats:09d}"
                push(pending, (beat, sequence + 2, telemetry_event(
                    event_id, beat, "heartbeat", component, site)))
        sequence += 3
    while pending:
        yield heapq.heappop(pending)[2]


@dataclass(frozen=True)
class Malformed:
    """A message a consumer must refuse (bytes) or dead-letter (content), and why."""

    topic: Topic
    payload: bytes
    defect: str


class MalformedMessages:
    """Makes malformed messages, labelled with their defect.

    Byte defects do not decode with the codec: ``truncated`` (a cut message),
    ``unknown_fingerprint`` (a writer schema nobody knows), ``missing_field``
    and ``wrong_type`` (written with a bogus schema under the real fingerprint).
    Content defects are valid Avro whose content fleetgraph must reject:
    ``oversized_string`` (a 100 kB attribute), ``unknown_id_type`` (``toaster:x1``),
    ``far_future`` (50 years ahead), ``out_of_range`` (a CDU at 900 °C).
    """

    def __init__(self, codec: EventCodec, seed: int, site_ids: Sequence[str],
                 cdu_ids: Sequence[str]) -> None:
        self.codec = codec
        self.rng = random.Random(f"{seed}:malformed")
        self.site_ids = list(site_ids)
        self.cdu_ids = list(cdu_ids)
        self.count = 0
        self._bogus = {topic: self._bogus_schemas(topic) for topic in Topic}

    def _bogus_schemas(self, topic: Topic) -> dict[str, Any]:
        real = _plain(self.codec.newest(RECORD_OF_TOPIC[topic]).parsed)
        fields = real["fields"]
        missing = {**real, "fields": [f for f in fields if f["name"] != "event_id"]}
        wrong = {**real, "fields": [
            {**f, "type": "string"} if f["name"] == "event_time" else f for f in fields]}
        return {
            "missing_field": fastavro.parse_schema(missing),
            "wrong_type": fastavro.parse_schema(wrong),
        }

    def make(self, topic: Topic, event: dict[str, Any], payload: bytes) -> Malformed:
        """A malformed message derived from a good one (which stays delivered)."""
        self.count += 1
        defect = self.rng.choice(DEFECTS)
        if defect in BYTE_DEFECTS:
            bad = self._bytes(defect, topic, event, payload)
            if self._decodes(bad):  # never label as broken what a reader accepts
                defect, bad = "truncated", self._truncated(payload)
            return Malformed(topic, bad, defect)
        topic, content = self._content(defect, topic, event)
        return Malformed(topic, self.codec.encode(topic, content), defect)

    def _decodes(self, payload: bytes) -> bool:
        try:
            self.codec.decode(payload)
        except SchemaError:
            return False
        return True

    def _truncated(self, payload: bytes) -> bytes:
        return payload[: self.rng.randrange(HEADER_LENGTH, len(payload))]

    def _bytes(self, defect: str, topic: Topic, event: dict[str, Any], payload: bytes
               ) -> bytes:
        if defect == "truncated":
            return self._truncated(payload)
        if defect == "unknown_fingerprint":
            return MAGIC + self.rng.getrandbits(64).to_bytes(8, "little") + payload[HEADER_LENGTH:]
        body = io.BytesIO()
        datum = dict(event)
        if defect == "wrong_type":
            datum["event_time"] = str(event["event_time"])
        fastavro.schemaless_writer(body, self._bogus[topic][defect], datum)
        return payload[:HEADER_LENGTH] + body.getvalue()

    def _content(self, defect: str, topic: Topic, event: dict[str, Any]
                 ) -> tuple[Topic, dict[str, Any]]:
        rng, event_id = self.rng, f"{topic}-bad{self.count:09d}"
        t = event["event_time"]
        if defect == "unknown_id_type":
            content = {**_copy(event), MAIN_ID[topic]: f"toaster:x{rng.randint(1, 99)}"}
            return topic, {**content, "event_id": event_id}
        if defect == "far_future":
            return topic, {**_copy(event), "event_id": event_id, "event_time": t + FAR_FUTURE_US}
        if defect == "out_of_range":
            cdu = rng.choice(self.cdu_ids)
            site = "site:" + cdu.split(":")[1].split("-")[0]
            sim = telemetry_event(f"telemetry-bad{self.count:09d}", t, "reading", cdu, site,
                                  metric="supply_temp_c", value=IMPOSSIBLE_SUPPLY_TEMP_C)
            return sim.topic, sim.event
        site = rng.choice(self.site_ids)  # oversized_string
        return Topic.INVENTORY, {
            "event_id": f"inventory-bad{self.count:09d}", "event_time": t, "kind": "updated",
            "component_id": site, "parent_id": None, "relation": None, "target_id": None,
            "attributes": {"name": "x" * OVERSIZED_LENGTH},
        }
