"""The contract between ingest/kafka/checkpoint.py and the faust-streaming and aiokafka
it was written against: the installed versions are the pinned ones, and every private
method and attribute it relies on is there, with the same signature and, for those it
patches or whose order of calls it rests on, the same source. An upgrade that changes
any of them fails here, naming what changed: read ingest/kafka/checkpoint.py (its
steps and RELIES_ON) against the new version before moving the pins and hashes."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from collections.abc import Callable, MutableMapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from fleetgraph.ingest.kafka.app import create_app
from fleetgraph.ingest.kafka.checkpoint import (
    CONSUMER_CLASS,
    PINNED,
    PRIVATE_NAMES,
    PUBLIC_HOOKS,
    RELIES_ON,
)
from fleetgraph.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SEE = ("ingest/kafka/checkpoint.py relies on it (RELIES_ON, PINNED): check its commit "
       "steps against the new version before updating the pin, signature or hash there")
STATE_TYPES: dict[str, Callable[[Any], bool]] = {
    "_acked": lambda v: isinstance(v, MutableMapping) and isinstance(v.get("x", []), list),
    "_committed_offset": lambda v: isinstance(v, MutableMapping),
    "_read_offset": lambda v: isinstance(v, MutableMapping),
    "_buffered_partitions": lambda v: isinstance(v, set),
    "_paused_partitions": lambda v: isinstance(v, set),
    "_active_partitions": lambda v: v is None or isinstance(v, set),
}


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _bare_signature(function: Any) -> str:
    signature = inspect.signature(function)
    return str(signature.replace(
        parameters=[p.replace(annotation=inspect.Parameter.empty)
                    for p in signature.parameters.values()],
        return_annotation=inspect.Signature.empty))


def _source_sha256(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def _problems(consumer: Any, classes: dict[str, Any] | None = None) -> list[str]:
    """What differs from RELIES_ON on its classes (``classes`` replaces some, by
    their path) and on ``consumer``, an instance of the consumer class."""
    problems = []
    for reliance in RELIES_ON:
        owner = (classes or {}).get(reliance.owner) or _resolve(reliance.owner)
        where = f"{owner.__module__}.{owner.__qualname__}.{reliance.name}"
        if reliance.use == "state":
            if not hasattr(consumer, reliance.name):
                problems.append(f"{where}: no such attribute ({reliance.why})")
            elif not STATE_TYPES[reliance.name](getattr(consumer, reliance.name)):
                problems.append(f"{where}: not the kind expected ({reliance.why})")
            continue
        method = getattr(owner, reliance.name, None)
        if not callable(method):
            problems.append(f"{where}: no such method ({reliance.why})")
            continue
        if _bare_signature(method) != reliance.signature:
            problems.append(f"{where}: signature {_bare_signature(method)}, expected "
                            f"{reliance.signature}")
        if reliance.source_sha256 and _source_sha256(method) != reliance.source_sha256:
            problems.append(f"{where}: source changed (sha256 {_source_sha256(method)}, "
                            f"recorded {reliance.source_sha256}; {reliance.why})")
    return problems


@pytest.fixture(scope="module")
def consumer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = Settings().updated(data_dir=tmp_path_factory.mktemp("contract"),
                                  kafka={"topic_prefix": "fg."})
    return create_app(settings, partitions=4).consumer


def test_the_installed_versions_are_the_pinned_ones() -> None:
    wrong = {name: version(name) for name, pinned in PINNED.items() if version(name) != pinned}
    assert not wrong, f"installed {wrong}, pinned {PINNED}: {SEE}"


def test_pyproject_pins_exactly_those_versions() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for name, pinned in PINNED.items():
        assert re.search(rf'"{re.escape(name)}=={re.escape(pinned)}"', text), (
            f"pyproject.toml must pin {name}=={pinned}: {SEE}")


def test_the_workers_consumer_is_the_class_relied_on(consumer: Any) -> None:
    assert type(consumer) is _resolve(CONSUMER_CLASS), (
        f"the app's consumer is {type(consumer)!r}, not {CONSUMER_CLASS}: {SEE}")


def test_every_private_method_and_attribute_relied_on_is_unchanged(consumer: Any) -> None:
    problems = _problems(consumer)
    assert not problems, "\n".join([*problems, SEE])


def test_the_public_hooks_keep_their_signatures() -> None:
    for path, expected in PUBLIC_HOOKS.items():
        owner, _, name = path.rpartition(".")
        module, _, cls = owner.rpartition(".")
        method = getattr(getattr(importlib.import_module(module), cls), name)
        assert _bare_signature(method) == expected, f"{path}: {_bare_signature(method)}; {SEE}"


def test_the_private_names_are_what_it_relies_on() -> None:
    assert {r.name for r in RELIES_ON if r.name.startswith("_")} == PRIVATE_NAMES
    assert {r.name for r in RELIES_ON if r.use == "state"} == set(STATE_TYPES)
    assert all(r.source_sha256 for r in RELIES_ON if r.use in ("patched", "ordering"))


def test_a_changed_method_is_caught(consumer: Any) -> None:
    """The check itself can fail: a consumer class whose ``_new_offset`` differs (a
    subclass overriding it, as an upgrade would change it) and lacks an attribute."""
    consumer_class = _resolve(CONSUMER_CLASS)

    class Upgraded(consumer_class):  # type: ignore[misc, valid-type]
        def _new_offset(self, tp: Any) -> int | None:
            return None

        def _add_gap(self, tp: Any, offset_from: int, offset_to: int, flag: bool = False
                     ) -> None:
            pass

    class Instance:
        pass

    problems = _problems(Instance(), {CONSUMER_CLASS: Upgraded})
    assert any("_new_offset: source changed" in p for p in problems), problems
    assert any("_add_gap: signature" in p for p in problems), problems
    assert any("_acked: no such attribute" in p for p in problems), problems
    assert not any("_handle_attached" in p for p in problems), problems


def test_the_streams_take_faust_streamings_compiled_fast_path() -> None:
    """The worker app opts in to the Cython StreamIterator's fast path (ingest/kafka/app.py):
    the extension must be the one streams iterate with, and the opt-in read the way
    faust-streaming reads it; without either, the option would silently do nothing."""
    import faust.streams
    from faust.utils.optin import cython_optimizations_enabled

    assert faust.streams._CStreamIterator is not None, (
        "faust-streaming's compiled StreamIterator is not installed (NO_CYTHON set, or a "
        "wheel without its extension): the worker's streams take the slow path")
    settings = Settings().updated(kafka={"topic_prefix": "fg."})
    app = create_app(settings, partitions=4)
    assert app.conf.cython_optimizations is True
    assert cython_optimizations_enabled(app.conf) is True
