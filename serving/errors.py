"""Errors the read side raises on purpose; GraphQL shows their messages as they are."""

from fleetgraph.core.errors import FleetgraphError


class ServingError(FleetgraphError):
    """A query could not be answered as asked."""


class NotFound(ServingError):
    """An id names nothing in the graph."""


class InvalidArgument(ServingError):
    """An argument is out of range or does not fit the graph model."""
