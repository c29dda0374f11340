"""Write the derived graph record schemas to ``schemas/graph/``."""

from __future__ import annotations

import json
from pathlib import Path

from fleetgraph.graph_model.avro import graph_schemas
from fleetgraph.graph_model.types import Registry

GRAPH_SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas" / "graph"


def rendered(registry: Registry) -> dict[str, str]:
    """File name -> file text for every node and edge type."""
    return {
        f"{name}.avsc": json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        for name, schema in graph_schemas(registry).items()
    }


def export(registry: Registry, directory: Path = GRAPH_SCHEMAS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered(registry).items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
