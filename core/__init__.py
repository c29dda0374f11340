"""The bottom layer: what every other layer may use and nothing here imports back.

Errors (one root class), units of time and the wall clock, and the version
stamped on what fleetgraph writes. It imports only the standard library.
"""
