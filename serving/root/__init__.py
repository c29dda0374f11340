"""Root query classes, one per domain; ``serving.schema`` joins them into ``Query``."""
