"""The independent reference implementation of the graph and its headline queries, on
networkx (formerly tests/oracle; its README is tests/oracle/README.md).

The test suite compares every query's answers with it; ``fleetgraph bench`` runs it
as the baseline the store's latencies are set against, so it ships in the package.
Its value is its independence: written from the docs alone, it imports nothing from
the rest of fleetgraph (a test checks), only networkx and the standard library.
"""
