"""The root of every error fleetgraph raises on purpose.

Each layer (schemas, ingest, storage, serving, infra) derives its own errors from
:class:`FleetgraphError`, so a caller can catch everything fleetgraph means to
raise with one ``except`` and still tell the layers apart.
"""


class FleetgraphError(Exception):
    """Base class of all fleetgraph errors."""


class ConfigError(FleetgraphError):
    """A setting is missing or has a value fleetgraph cannot use."""
