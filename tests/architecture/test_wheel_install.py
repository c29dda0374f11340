"""Installed from a wheel (``pip install .``, not editable), every command works: no
import of the test suite, nothing written inside site-packages."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(".git", ".venv", ".fleetgraph", "build", "dist", "*.egg-info",
                                 "__pycache__", ".*_cache", ".hypothesis", "*.sqlite*")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel (no dependencies: those come from the project's
    venv through a path file, whose own .pth files, the editable install's among them,
    are not read). Its bin/ directory."""
    root = tmp_path_factory.mktemp("wheel-install")
    source = root / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=IGNORED)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(root), str(source)], check=True, timeout=300)
    (wheel,) = root.glob("fleetgraph-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--quiet", str(wheel)], check=True, timeout=300)
    return venv / "bin"


def fleetgraph(bin_dir: Path, cwd: Path, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("FLEETGRAPH_", "PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([str(bin_dir / "fleetgraph"), *args], cwd=cwd,
                          env={**clean, **(env or {})}, capture_output=True, text=True,
                          timeout=600)


def test_it_runs_from_site_packages_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(installed / "python"), "-c",
                            "import fleetgraph, os; print(os.path.realpath(fleetgraph.__file__))"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "site-packages" in where and not where.startswith(str(REPO)), where
    version = fleetgraph(installed, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("fleetgraph, version ")


@pytest.mark.parametrize("command", [("bench", "--help"), ("stack", "--help"),
                                     ("demo", "--help"), ("serve", "--help")])
def test_each_command_answers_help(installed: Path, tmp_path: Path,
                                   command: tuple[str, ...]) -> None:
    done = fleetgraph(installed, tmp_path, *command)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: fleetgraph")


def test_the_quick_bench_runs_without_the_test_suite(installed: Path, tmp_path: Path) -> None:
    done = fleetgraph(installed, tmp_path, "bench", "--quick", "--sites", "1", "--hours", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "No module named 'tests'" not in done.stderr
    assert "blastRadius" in done.stdout and (tmp_path / ".fleetgraph" / "bench.json").is_file()


def test_schemas_export_writes_to_the_working_directory(installed: Path, tmp_path: Path) -> None:
    done = fleetgraph(installed, tmp_path, "schemas", "export")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fleetgraph-schemas" / "schema.graphql").is_file()
    assert len(list((tmp_path / "fleetgraph-schemas" / "graph").glob("*.avsc"))) > 10
    assert "site-packages" not in done.stdout
    out = fleetgraph(installed, tmp_path, "schemas", "export", "--out", "elsewhere")
    assert out.returncode == 0 and (tmp_path / "elsewhere" / "schema.graphql").is_file()


def test_the_stack_home_is_the_users_data_directory(installed: Path, tmp_path: Path) -> None:
    code = ("from fleetgraph.infra.stack import stack_home; "
            "from fleetgraph.settings import StackSettings; print(stack_home(StackSettings()))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGRAPH_")}
    home = subprocess.run([str(installed / "python"), "-c", code], cwd=tmp_path,
                          env={**env, "XDG_DATA_HOME": str(tmp_path / "xdg")},
                          capture_output=True, text=True, check=True).stdout.strip()
    assert home == str((tmp_path / "xdg" / "fleetgraph" / "stack").resolve())
    env.pop("XDG_DATA_HOME", None)
    default = subprocess.run([str(installed / "python"), "-c", code], cwd=tmp_path,
                             env={**env, "HOME": str(tmp_path)}, capture_output=True,
                             text=True, check=True).stdout.strip()
    assert default == str((tmp_path / ".local" / "share" / "fleetgraph" / "stack").resolve())


def test_in_the_checkout_the_stack_home_stays_beside_the_sources() -> None:
    from fleetgraph.infra.stack import stack_home
    from fleetgraph.settings import StackSettings, source_checkout

    assert source_checkout() == REPO
    assert stack_home(StackSettings()) == (REPO / ".fleetgraph" / "stack").resolve()


def test_the_reference_imports_nothing_of_fleetgraph_but_itself() -> None:
    for module in (REPO / "fleetgraph" / "bench" / "reference").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("fleetgraph") or name.startswith(
                    "fleetgraph.bench.reference"), f"{module.name} imports {name}"
                assert not name.startswith("tests"), f"{module.name} imports {name}"
