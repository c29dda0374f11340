"""fleetgraph: a real-time knowledge graph of an AI compute fleet.

The one import name of the distribution. Its layers, bottom up (see
docs/architecture.md): ``core``, ``graph_model``, ``schemas``, ``storage``,
``ingest`` and ``simulator``, ``serving``, ``infra``, ``clients``; then the roof,
``cli`` and ``bench``. In the repository each layer is a top-level folder (the
client's layout), linked into this package.
"""

from fleetgraph.core.version import WRITER_VERSION, __version__

__all__ = ["WRITER_VERSION", "__version__"]
