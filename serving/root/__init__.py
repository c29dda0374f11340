"""Root query classes, one per domain; ``fleetgraph.serving.schema`` joins them into ``Query``."""
