"""``python -m fleetgraph.bench.read_model_partitions``: the read models' sizes in one
partition and spread as the Cassandra store spreads them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fleetgraph.bench.read_model_partitions import main, partition_sizes
from fleetgraph.graph_model import FLEET
from fleetgraph.storage.cassandra.read_models import SPREAD
from fleetgraph.storage.embedded import SQLiteGraphStore


def test_sizes_in_one_partition_and_spread(tmp_path: Path) -> None:
    db = tmp_path / "graph.sqlite"
    store = SQLiteGraphStore(FLEET, db)
    store.put_read_models("replicas", {f"artifact:a{i:04d}": "x" * 100 for i in range(400)})
    store.put_read_models("model_site_items", {f"model:m site:s{i:03d}": "y" * 50
                                                for i in range(100)})
    store.put_read_models("site_state", {"site:s001": "z"})
    store.close()
    sizes = partition_sizes(db)
    replicas = sizes["replicas"]
    assert replicas["rows"] == 400 and replicas["partitions"] == SPREAD["replicas"]
    assert replicas["one_partition_mib"] == round(400 * (14 + 100) / (1 << 20), 2)
    assert replicas["largest_partition_mib"] < replicas["one_partition_mib"]
    assert sizes["model_site_items"]["partitions"] == 1  # one model: one partition
    assert sizes["site_state"] == {"rows": 1, "one_partition_mib": 0.0, "partitions": 1,
                                   "largest_partition_mib": 0.0}
    printed = CliRunner().invoke(main, [str(db)])
    assert printed.exit_code == 0 and json.loads(printed.output) == sizes
