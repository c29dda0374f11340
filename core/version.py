"""The version fleetgraph reports and stamps on what it writes."""

from __future__ import annotations

__version__ = "0.1.0"
WRITER_VERSION = f"fleetgraph/{__version__}"
