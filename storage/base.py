"""The one storage interface every backend implements.

A store is a two-level map per namespace, as in Netflix's RDG: a node type's
namespace maps a node id to its properties; an edge type's namespace maps a
"from" id to its sorted adjacency list (the "to" ids with the edge's
properties), and a mirror maps "to" ids back to "from" ids. Writes are upserts,
merged property by property, newest event time first. The contract tests in
``tests/storage/test_contract.py`` say what a backend must do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, TypeVar, overload

from fleetgraph.core.errors import FleetgraphError
from fleetgraph.graph_model.intervals import TimeWindow as TimeWindow
from fleetgraph.graph_model.records import EdgeRecord, EdgeUpsert, NodeRecord, NodeUpsert

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


class StorageError(FleetgraphError):
    """The store failed or was asked for something it cannot do."""


class StorageUnavailable(StorageError):
    """The store could not be reached: an outage to wait out, not a refusal."""


SchemaMode = Literal["check", "init", "trust"]
"""What a store does with its schema when opened: ``"init"`` creates or migrates it
(:meth:`GraphStore.init_schema`), ``"check"`` raises StorageError unless it matches the
registry, ``"trust"`` leaves it as found (for tools that make or describe it)."""


class Direction(Enum):
    OUT = "out"  # from -> to: the adjacency list of the "from" node
    IN = "in"  # to -> from: the mirror list of the "to" node


@dataclass(frozen=True, slots=True)
class Layout:
    """How a store keeps its namespaces, read from where they are kept (what
    ``fleetgraph storage describe`` prints).

    ``namespaces`` are the graph's namespaces found there, by the backend's names
    (the embedded store's tables, Cassandra's keyspaces); ``lines`` describe them
    for people (tables, rows or expiry, replication), ``summary`` in one line.
    """

    namespaces: tuple[str, ...]
    lines: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class Page:
    """One page of node ids for a type, and where the next page starts."""

    records: list[NodeRecord]
    next_after: str | None


class GraphStore(ABC):
    """Batched reads and writes of nodes and adjacency lists."""

    @abstractmethod
    def upsert_nodes(self, nodes: Sequence[NodeUpsert]) -> None:
        """Merge node properties, per property newest event time wins."""

    @abstractmethod
    def upsert_edges(self, edges: Sequence[EdgeUpsert]) -> None:
        """Merge edge properties into both adjacency directions."""

    @abstractmethod
    def get_nodes(self, ids: Sequence[str]) -> dict[str, NodeRecord]:
        """Nodes by id, of any types; ids not found are left out."""

    @abstractmethod
    def neighbours(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        window: TimeWindow | None = None,
    ) -> dict[str, list[EdgeRecord]]:
        """Adjacency lists of many nodes in one call.

        The result maps each id asked for to its edges, sorted by the other
        end's id (an empty list when it has none). With ``window``, only edges
        whose validity interval overlaps it.
        """

    def neighbour_ids(
        self,
        edge_type: str,
        ids: Sequence[str],
        direction: Direction,
        *,
        recorded_by: int | None = None,
        window: TimeWindow | None = None,
    ) -> dict[str, list[str]]:
        """The other ends of each id's edges, sorted, each once (what :meth:`neighbours`
        gives with the same window, without the properties): a walk that needs only the
        ids. With ``recorded_by``, only the edges first written at or before it (their
        origin's ``created_at``; an edge without an origin always counts).

        This default reads the whole records; a backend reads only the ids where it can
        (for a type with history and a window, it may have to rebuild the intervals)."""
        found = self.neighbours(edge_type, ids, direction, window)
        return {
            near: list(dict.fromkeys(
                e.other(near) for e in edges
                if recorded_by is None or e.origin is None
                or e.origin.created_at <= recorded_by))
            for near, edges in found.items()
        }

    def node_values(self, ids: Sequence[str], prop: str) -> dict[str, Any]:
        """One property of nodes by id (what :meth:`get_nodes` gives, only that
        property): each id found maps to the property's value, ``None`` when it is
        not set (or its type has no such property); ids not found are left out.

        This default reads the whole records; a backend reads only that column."""
        return {node_id: record.props.get(prop)
                for node_id, record in self.get_nodes(ids).items()}

    @overload
    def together(self, a: Callable[[], A], b: Callable[[], B], /) -> tuple[A, B]: ...

    @overload
    def together(self, a: Callable[[], A], b: Callable[[], B], c: Callable[[], C], /
                 ) -> tuple[A, B, C]: ...

    def together(self, *reads: Callable[[], Any]) -> tuple[Any, ...]:
        """The results of independent reads of this store (functions calling its read
        methods), in order: a query's reads that do not wait for each other, run at
        once where the backend can (:meth:`run_reads`)."""
        return tuple(self.run_reads(reads))

    def window_reads_follow_the_window(self) -> bool:
        """Whether a window read of an interval edge type costs what the window holds
        wherever it lies (True: the embedded store's span index), or reads every end
        written from the window's start on (False, this default: Cassandra's ends
        index). A query with windows far apart reads them separately only when True;
        otherwise one read of their hull costs less than several from each start on."""
        return False

    def run_reads(self, reads: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run ``reads`` and return their results in order; the first error raised is
        raised. This default runs them one after another (a local store waits for
        nothing); a remote backend runs them concurrently, so that their round trips
        overlap."""
        return [read() for read in reads]

    @abstractmethod
    def scan_nodes(self, node_type: str, after: str | None, limit: int) -> Page:
        """Nodes of one type in a stable, backend-defined order, starting after the
        opaque cursor ``after`` (a previous page's ``next_after``)."""

    def scan_pages(self, node_type: str, page: int = 5000) -> Iterator[list[NodeRecord]]:
        """Every node of ``node_type``, one :meth:`scan_nodes` page (at most ``page``
        nodes) at a time."""
        after: str | None = None
        while True:
            found = self.scan_nodes(node_type, after, page)
            yield found.records
            if found.next_after is None:
                return
            after = found.next_after

    def node_ids(self, node_type: str, page: int = 5000) -> list[str]:
        """The id of every node of ``node_type``, in the order :meth:`scan_nodes` gives."""
        return [r.id for records in self.scan_pages(node_type, page) for r in records]

    @abstractmethod
    def init_schema(self) -> list[str]:
        """Create missing namespaces and add columns for newly declared properties,
        follow declared changes (expiry); idempotent. Returns the schema statements it
        ran (empty when the schema was up to date); raises StorageError for a change
        it cannot make in place."""

    @abstractmethod
    def count(self, namespace: str) -> int:
        """Rows in one namespace: ``node_<type>`` (nodes) or ``edge_<type>`` (edges, one
        per from/to pair); StorageError for a namespace the store does not have."""

    @abstractmethod
    def describe(self) -> Layout:
        """The namespaces as they are kept (whether or not the schema matches the
        registry: what is there, not what should be)."""

    @abstractmethod
    def expire(self, now_us: int) -> int:
        """Delete records whose type's TTL has run out; return how many."""

    @abstractmethod
    def dump(self) -> Iterator[tuple[str, tuple[object, ...]]]:
        """Every stored row, per namespace, in a stable order (for checksums)."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections and files."""

    def reindex(self) -> dict[str, int]:
        """Fill derived indexes (the time index of temporal edge types) from the live
        rows, for data written before they existed; per index, the rows indexed. A
        store whose database keeps its indexes itself (SQLite) has nothing to do."""
        return {}

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- read models: derived rows kept beside the graph ---------------------------------
    @abstractmethod
    def put_read_models(self, model: str, rows: Mapping[str, str | None]) -> None:
        """Write rows of the read model ``model`` (derived data the pipeline keeps, e.g.
        ``site_state``): key -> text, ``None`` deletes the key. Last write wins; not part
        of ``dump`` (derived, rebuilt by ``fleetgraph read-models rebuild``)."""

    @abstractmethod
    def get_read_models(self, model: str, keys: Sequence[str] | None = None) -> dict[str, str]:
        """Rows of the read model ``model`` by key: those of ``keys`` that exist, or every
        row when ``keys`` is None."""


def group_by_type(ids: Sequence[str]) -> Mapping[str, list[str]]:
    from fleetgraph.graph_model.ids import node_type_of

    grouped: dict[str, list[str]] = {}
    for node_id in dict.fromkeys(ids):
        grouped.setdefault(node_type_of(node_id), []).append(node_id)
    return grouped
