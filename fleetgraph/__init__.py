"""fleetgraph: a real-time knowledge graph of an AI compute fleet."""

__version__ = "0.1.0"
WRITER_VERSION = f"fleetgraph/{__version__}"
