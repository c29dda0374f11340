"""The ``residency`` read model's rows as dataResidency and dataResidencySummary read
them (:mod:`fleetgraph.ingest.read_models.residency`): a dataset's header, then the
chunks of places (and of the lineage's items) an answer needs, decoded into the
answer's own :class:`Place` objects.

A chunk's content is fixed by its key and its generation (a hash of the whole
computation's places and items, the chunk sizes included): what was decoded is kept
by (key, generation), for the chunks used last up to :data:`DECODED_PLACES` places
(~660 bytes a place decoded: ~43 MB) and :data:`DECODED_ITEMS` items, so that an
answer asked again reads only its header and reuses its places. Decoding a chunk
again costs ~1-2 µs a place; what a whole answer costs past that is its GraphQL
completion. A header's chunks that
are missing or of another generation (a computation racing another) make the query
walk, as a missing header does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from fleetgraph.ingest.read_models.residency import (
    RESIDENCY,
    RESIDENCY_PLACES,
    DatasetResidency,
    chunk_key,
    decode_chunk,
    decode_items,
    decoded_header,
    item_chunk_key,
)
from fleetgraph.storage.base import GraphStore

DECODED_PLACES = 65_536  # places kept decoded, in whole chunks
DECODED_ITEMS = 65_536  # lineage items kept decoded, in whole chunks


@dataclass(frozen=True, slots=True)
class Place:
    """Where one item was processed (by ``jobs``) and/or held (a replica)."""

    item_id: str
    site_id: str
    jurisdiction: str | None
    jobs: list[str]
    held: bool
    held_from: int | None
    held_to: int | None


T = TypeVar("T", tuple[Place, ...], tuple[str, ...])


class DecodedChunks(Generic[T]):
    """The chunks decoded last, by (key, generation), up to ``size`` rows in all; shared
    by the reading threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.rows = 0
        self.kept: OrderedDict[tuple[str, str], T] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str, generation: str) -> T | None:
        with self.lock:
            found = self.kept.get((key, generation))
            if found is not None:
                self.kept.move_to_end((key, generation))
            return found

    def put(self, key: str, generation: str, chunk: T) -> None:
        with self.lock:
            old = self.kept.pop((key, generation), None)
            self.rows += len(chunk) - (0 if old is None else len(old))
            self.kept[key, generation] = chunk
            while self.rows > self.size and len(self.kept) > 1:
                self.rows -= len(self.kept.popitem(last=False)[1])

    def fill(self, keys: list[str], texts: dict[str, str], generation: str,
             decode: Callable[[str, str], T | None], into: dict[str, T]) -> bool:
        """Decode the chunks ``keys`` from ``texts`` into ``into`` and keep them; False
        when one is missing or of another generation."""
        for key in keys:
            chunk = None if key not in texts else decode(texts[key], generation)
            if chunk is None:
                return False
            self.put(key, generation, chunk)
            into[key] = chunk
        return True

    def clear(self) -> None:
        with self.lock:
            self.kept.clear()
            self.rows = 0


PLACES: DecodedChunks[tuple[Place, ...]] = DecodedChunks(DECODED_PLACES)
ITEMS: DecodedChunks[tuple[str, ...]] = DecodedChunks(DECODED_ITEMS)


def header_at(store: GraphStore, dataset_id: str, limit: int, now_us: int
              ) -> DatasetResidency | None:
    """The dataset's header when it holds at ``now_us`` for an answer of at most
    ``limit`` items; None otherwise (the caller walks)."""
    text = store.get_read_models(RESIDENCY, [dataset_id]).get(dataset_id)
    header = None if text is None else decoded_header(dataset_id, text)
    if header is None or not header.holds_at(now_us) or header.item_count > limit:
        return None
    return header


def places_of(store: GraphStore, header: DatasetResidency, chunks: Sequence[int]
              ) -> list[Place] | None:
    """The places of the header's chunks ``chunks``, in order; None when one is missing
    or of another generation."""
    found = _chunks(store, header, [chunk_key(header.dataset_id, n) for n in chunks], [])
    return None if found is None else [p for part in found[0] for p in part]


def whole_answer(store: GraphStore, header: DatasetResidency
                 ) -> tuple[list[str], list[Place]] | None:
    """The lineage's items and every place (one read for the chunks not decoded yet);
    None when a chunk is missing or of another generation."""
    dataset = header.dataset_id
    found = _chunks(store, header,
                    [chunk_key(dataset, n) for n in range(len(header.chunk_firsts))],
                    [item_chunk_key(dataset, n) for n in range(header.item_chunks)])
    if found is None:
        return None
    places, items = found
    return [i for part in items for i in part], [p for part in places for p in part]


def _chunks(store: GraphStore, header: DatasetResidency, place_keys: list[str],
            item_keys: list[str]) -> tuple[list[tuple[Place, ...]], list[tuple[str, ...]]] | None:
    """The chunks ``place_keys`` and ``item_keys``, those not decoded yet in one read."""
    generation = header.generation
    places = {k: c for k in place_keys if (c := PLACES.get(k, generation)) is not None}
    items = {k: i for k in item_keys if (i := ITEMS.get(k, generation)) is not None}
    missing = [k for k in place_keys if k not in places]
    missing_items = [k for k in item_keys if k not in items]
    texts = store.get_read_models(RESIDENCY_PLACES, missing + missing_items) if (
        missing or missing_items) else {}
    if not PLACES.fill(missing, texts, generation, _place_chunk, places) or \
            not ITEMS.fill(missing_items, texts, generation, _item_chunk, items):
        return None
    return [places[k] for k in place_keys], [items[k] for k in item_keys]


def _place_chunk(text: str, generation: str) -> tuple[Place, ...] | None:
    decoded = decode_chunk(text)
    if decoded is None or decoded[0] != generation:
        return None
    return tuple(Place(*row) for row in decoded[1])


def _item_chunk(text: str, generation: str) -> tuple[str, ...] | None:
    decoded = decode_items(text)
    if decoded is None or decoded[0] != generation:
        return None
    return tuple(decoded[1])
