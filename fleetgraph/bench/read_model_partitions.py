"""The partitions the Cassandra store would keep a store's read models in: for each read
model of an embedded store, its size in one partition (the first layout) and, spread by
key group as :mod:`fleetgraph.storage.cassandra.read_models` spreads it, how many
partitions and the largest (Cassandra's guideline: under 100 MiB a partition). Sizes
are the keys' and values' UTF-8 bytes, what a row holds besides Cassandra's own
overhead::

    python -m fleetgraph.bench.read_model_partitions /var/tmp/fleet1e7/graph.sqlite
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import click

from fleetgraph.storage.cassandra.read_models import bucket_of
from fleetgraph.storage.embedded.read_models import READ_MODEL_TABLE

MIB = 1 << 20


def partition_sizes(db: Path) -> dict[str, dict[str, Any]]:
    """Per read model of the embedded store at ``db``: rows, MiB in one partition,
    partitions used when spread and the largest's MiB."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    whole: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    spread: Counter[tuple[str, int]] = Counter()
    try:
        for model, key, value in connection.execute(
                f"SELECT model, key, value FROM {READ_MODEL_TABLE}"):
            size = len(key.encode()) + len((value or "").encode())
            whole[model] += size
            rows[model] += 1
            spread[(model, bucket_of(model, key))] += size
    finally:
        connection.close()
    found: dict[str, dict[str, Any]] = {}
    for model in sorted(whole):
        parts = [size for (m, _), size in spread.items() if m == model]
        found[model] = {"rows": rows[model], "one_partition_mib": round(whole[model] / MIB, 2),
                        "partitions": len(parts),
                        "largest_partition_mib": round(max(parts) / MIB, 2)}
    return found


@click.command()
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def main(db: Path) -> None:
    """Print the read models' partition sizes as JSON (see the module docstring)."""
    click.echo(json.dumps(partition_sizes(db), indent=1))


if __name__ == "__main__":
    main()
