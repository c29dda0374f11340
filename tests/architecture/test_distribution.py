"""The installed distribution claims one import name, ``fleetgraph``, and carries
every layer and the data files they read (docs/architecture.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = ("core", "graph_model", "schemas", "storage", "ingest", "simulator", "serving",
          "infra", "clients")


def test_every_layer_folder_is_linked_into_the_package() -> None:
    for layer in LAYERS:
        link = REPO / "fleetgraph" / layer
        assert link.is_symlink(), f"fleetgraph/{layer} should link to the top-level folder"
        assert link.resolve() == (REPO / layer).resolve()
        assert (REPO / layer / "__init__.py").is_file()
    top_level_packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert top_level_packages == {*LAYERS, "fleetgraph"}, (
        "a new top-level package must be linked into fleetgraph/ and added to LAYERS")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools keeps a build/ folder beside the sources, and a
    # stale one would put files that are gone into the wheel
    source = out / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".fleetgraph", "build", "dist", "*.egg-info", "__pycache__",
        ".*_cache", ".hypothesis", "*.sqlite*"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "--quiet", "-w", str(out), str(source)], check=True, timeout=300)
    (path,) = out.glob("fleetgraph-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_installs_one_top_level_name(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"fleetgraph"}
    (info,) = dist_info
    assert wheel.read(f"{info}/top_level.txt").decode().split() == ["fleetgraph"]


def test_the_wheel_carries_every_layer_and_its_data(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for layer in LAYERS:
        assert f"fleetgraph/{layer}/__init__.py" in names
    assert "fleetgraph/cli/main.py" in names
    for data in ("fleetgraph/serving/schema.graphql",
                 *(f"fleetgraph/{p.relative_to(REPO)}" for p in REPO.glob("schemas/**/*.avsc")),
                 *(f"fleetgraph/{p.relative_to(REPO)}" for p in REPO.glob("infra/conf/*")),
                 "fleetgraph/serving/explorer/static/vendor/manifest.json",
                 "fleetgraph/serving/explorer/static/vendor/graphiql-3.8.3/graphiql.min.js",
                 "fleetgraph/serving/explorer/static/graph.js",
                 "fleetgraph/serving/explorer/templates/graphiql.html"):
        assert data in names, f"{data} is missing from the wheel"
