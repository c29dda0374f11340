"""The roof: the ``fleetgraph`` command (click) and its subcommands. Nothing below
imports from here (docs/architecture.md)."""
