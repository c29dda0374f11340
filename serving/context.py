"""What every resolver gets: the store, the graph model, the clock and the loaders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import strawberry

from graph_model.fleet import FLEET
from graph_model.types import Registry
from serving.loaders import GraphLoaders
from serving.times import now_us
from storage.base import GraphStore

Clock = Callable[[], int]  # µs since the epoch


@dataclass
class ServingContext:
    store: GraphStore
    registry: Registry
    clock: Clock
    loaders: GraphLoaders


def new_context(
    store: GraphStore, *, registry: Registry = FLEET, clock: Clock = now_us
) -> ServingContext:
    """A fresh context, with fresh loaders: one per request."""
    return ServingContext(store, registry, clock, GraphLoaders(store))


Info = strawberry.Info[ServingContext, None]
