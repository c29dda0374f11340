"""Node kinds: every typed node class is bound to the kind the relationships name it by."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from fleetgraph.graph_model.records import NodeRecord
from fleetgraph.serving.types import refs
from fleetgraph.serving.types.node import NODE, NODE_CLASSES, GenericNode, Node, NodeKind
from fleetgraph.serving.types.relations import node_by_id


def kinds() -> list[NodeKind[Any]]:
    return [v for k, v in vars(refs).items() if k.endswith("_KIND")]


def test_every_kind_is_bound_to_its_registered_class() -> None:
    assert {k.type_name for k in kinds()} == set(NODE_CLASSES)
    for kind in kinds():
        assert kind.type_name is not None
        node = kind.of(NodeRecord(kind.type_name, f"{kind.type_name}:x", {}))
        assert type(node) is NODE_CLASSES[kind.type_name]


def test_any_node_is_served_by_its_own_class() -> None:
    assert isinstance(NODE.of(NodeRecord("rack", "rack:x", {})), NODE_CLASSES["rack"])
    assert NODE.holds("anything:x")


def test_an_untyped_node_is_generic() -> None:
    assert type(NODE.of(NodeRecord("thing", "thing:x", {}))) is GenericNode
    assert isinstance(GenericNode(record=NodeRecord("thing", "thing:x", {})), Node)


def test_a_reference_to_a_node_of_another_type_is_none() -> None:
    loaded: list[str] = []

    class Nodes:
        async def load(self, node_id: str) -> NodeRecord:
            loaded.append(node_id)
            return NodeRecord(node_id.partition(":")[0], node_id, {})

    info: Any = SimpleNamespace(context=SimpleNamespace(loaders=SimpleNamespace(nodes=Nodes())))
    site = asyncio.run(node_by_id(info, "site:s1", refs.SITE_KIND))
    assert site is not None and site.record.id == "site:s1"
    assert asyncio.run(node_by_id(info, "rack:r1", refs.SITE_KIND)) is None
    assert asyncio.run(node_by_id(info, None, refs.SITE_KIND)) is None
    assert loaded == ["site:s1"]
