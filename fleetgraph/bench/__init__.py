"""``fleetgraph bench``: figures for ingest, queries and memory, with baselines.

Every figure that matters comes with a baseline measured in the same run (raw
SQLite inserts, networkx in memory), because the machines are shared and noisy.
"""
