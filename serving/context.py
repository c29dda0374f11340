"""What every resolver gets: the store, the graph model, the clock, the loaders, where
store reads run (serving.reads), and what the request's role may read (serving.access)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import strawberry
from starlette.responses import Response

from fleetgraph.graph_model.fleet import FLEET
from fleetgraph.graph_model.types import Registry
from fleetgraph.serving.access import NOBODY, OPS, Access, access_of
from fleetgraph.serving.access_guard import GuardedLoaders
from fleetgraph.serving.deadline import DeadlineStore
from fleetgraph.serving.loaders import GraphLoaders
from fleetgraph.serving.reads import StoreReads
from fleetgraph.serving.times import now_us
from fleetgraph.storage.base import GraphStore

Clock = Callable[[], int]  # µs since the epoch


@dataclass
class ServingContext:
    store: GraphStore
    registry: Registry
    clock: Clock
    loaders: GraphLoaders
    access: Access
    reads: StoreReads
    response: Response | None = None  # the HTTP answer's status and headers, over HTTP


def new_context(
    store: GraphStore,
    *,
    registry: Registry = FLEET,
    clock: Clock = now_us,
    role: str | None = OPS,
    response: Response | None = None,
    reads: StoreReads | None = None,
) -> ServingContext:
    """A fresh context, with fresh loaders, for one request by ``role`` (None: a request
    with no role, which reads nothing); ``reads`` is the app's (what its store reads
    have cost), a new one when None. The store is read through a
    :class:`~fleetgraph.serving.deadline.DeadlineStore` (the request's deadline, and
    the cut of a read on trial on the event loop)."""
    access = NOBODY if role is None else access_of(role, registry)
    reads = StoreReads() if reads is None else reads
    if not isinstance(store, DeadlineStore):  # where reads on trial inline are cut
        store = DeadlineStore(store)
    return ServingContext(store, registry, clock, GuardedLoaders(store, access, reads),
                          access, reads, response)


Info = strawberry.Info[ServingContext, None]
