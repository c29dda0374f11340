"""The read side: headline queries and the GraphQL API over a GraphStore.

``fleetgraph.serving.queries`` answers the headline questions with plain functions (for the
scheduler, the benchmark and tests); ``fleetgraph.serving.schema`` exposes the graph and
those answers through GraphQL; ``fleetgraph.serving.app`` serves it over HTTP.
"""

from fleetgraph.serving.errors import InvalidArgument, NotFound, ServingError

__all__ = ["InvalidArgument", "NotFound", "ServingError"]
