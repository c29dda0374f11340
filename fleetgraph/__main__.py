"""``python -m fleetgraph ...`` is the ``fleetgraph`` command (how tests and benchmarks
start workers and servers as child processes of the same interpreter)."""

from fleetgraph.cli.main import main

if __name__ == "__main__":
    main()
