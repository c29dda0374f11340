"""No module but ingest/kafka/checkpoint.py touches a private attribute of faust,
mode or aiokafka (issue 11, "Loss-free by design"): the one module pinned by
tests/kafka/test_checkpoint_contract.py is the only one an upgrade can break.

Scanned with ``ast``, every source module of the package (not the tests):

- an attribute named in ``checkpoint.PRIVATE_NAMES``, on any object (one of
  ``OTHER_PRIVATE_NAMES`` on anything but ``self``/``cls``), or such a name
  as a string given to getattr/setattr/hasattr/delattr;
- in a module that imports faust, mode or aiokafka: any ``x._name`` (not a dunder)
  on something else than ``self``/``cls``, and ``self._name`` in a class whose bases
  come from those packages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from fleetgraph.ingest.kafka.checkpoint import OTHER_PRIVATE_NAMES, PRIVATE_NAMES, RELIES_ON

ROOT = Path(__file__).resolve().parents[2]
OWNER = ROOT / "ingest" / "kafka" / "checkpoint.py"
LIBRARIES = ("faust", "mode", "aiokafka")
ATTRIBUTE_CALLS = {"getattr", "setattr", "hasattr", "delattr"}
SCANNED = PRIVATE_NAMES | OTHER_PRIVATE_NAMES


def source_files() -> Iterator[Path]:
    """The package's modules by real path: fleetgraph/ and the layer folders it links."""
    package = ROOT / "fleetgraph"
    roots = [package]
    roots += [child.resolve() for child in package.iterdir() if child.is_symlink()]
    for root in roots:
        yield from sorted(p for p in root.rglob("*.py") if not p.parent.is_symlink())


def _library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in LIBRARIES


def _imported_names(tree: ast.AST) -> set[str]:
    """Local names bound to faust/mode/aiokafka modules or objects."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names
                         if _library(a.name))
        elif isinstance(node, ast.ImportFrom) and _library(node.module):
            names.update(a.asname or a.name for a in node.names)
    return names


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def violations(source: str, filename: str = "<snippet>") -> list[str]:
    """Where ``source`` touches a private attribute of faust, mode or aiokafka."""
    tree = ast.parse(source, filename)
    imported = _imported_names(tree)
    library_classes: list[ast.ClassDef] = [
        node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
        and any(_root_name(base) in imported for base in node.bases)]
    in_library_class = {id(n) for cls in library_classes for n in ast.walk(cls)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            foreign = owner not in ("self", "cls") or id(node) in in_library_class
            if node.attr in PRIVATE_NAMES or (node.attr in OTHER_PRIVATE_NAMES and foreign):
                found.append(f"{filename}:{node.lineno}: .{node.attr}")
            elif imported and _private(node.attr) and foreign:
                found.append(f"{filename}:{node.lineno}: .{node.attr} (a module using "
                             f"{', '.join(LIBRARIES)})")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ATTRIBUTE_CALLS and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant)
              and node.args[1].value in SCANNED):
            found.append(f"{filename}:{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return found


def test_only_the_checkpoint_touches_private_faust_or_aiokafka_state() -> None:
    files = list(source_files())
    assert OWNER in files and len(files) > 100, (OWNER, len(files))
    found = [v for path in files if path != OWNER
             for v in violations(path.read_text(), str(path.relative_to(ROOT)))]
    assert not found, ("private attributes of faust/mode/aiokafka are touched only in "
                       "ingest/kafka/checkpoint.py (RELIES_ON, pinned by "
                       "tests/kafka/test_checkpoint_contract.py); move these there:\n"
                       + "\n".join(found))


def test_the_checkpoint_itself_uses_the_names_it_declares() -> None:
    """The list is what the module uses: every private name it touches is declared,
    and every declared one it patches or reads is touched (the "ordering" ones are
    Faust's own calls around them)."""
    tree = ast.parse(OWNER.read_text())
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and _private(node.attr)
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")}
    touched = {r.name for r in RELIES_ON if r.name.startswith("_") and r.use != "ordering"}
    assert used == touched, used ^ touched
    assert touched <= PRIVATE_NAMES


def test_the_scan_finds_a_planted_access() -> None:
    planted = '''
import faust
from aiokafka import AIOKafkaConsumer

def patch(app):
    consumer = app.consumer
    consumer._new_offset = lambda tp: None        # a name checkpoint.py relies on
    getattr(consumer, "_add_gap")                 # the same, by string
    AIOKafkaConsumer(None)._fetcher.close()       # any private name, here

class Table(faust.Table):
    def clear(self):
        self._data.clear()                        # private state of the base class
'''
    found = violations(planted)
    assert [line.split(":")[1] for line in found] == ["7", "8", "9", "13"], found
    no_import = '''
def highwater(consumer, tp):  # the stall guard's way before the checkpoint
    return consumer._thread._ensure_consumer().highwater(tp)
'''
    assert len(violations(no_import)) == 2, violations(no_import)


def test_the_scan_leaves_other_private_attributes_alone() -> None:
    clean = '''
import sqlite3

class Store:
    def __init__(self):
        self._db = sqlite3.connect(":memory:")

def peek(store):
    return store._db                              # no faust/mode/aiokafka here
'''
    assert violations(clean) == []
