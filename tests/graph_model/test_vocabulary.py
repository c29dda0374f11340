"""The fleet's vocabulary is derived from its declarations, and reads as before."""

from __future__ import annotations

from fleetgraph.graph_model.fleet import (
    CACHED_TYPES,
    COMPONENT_TYPES,
    CONTAINMENT_EDGES,
    DATA_TYPES,
    FLEET,
    LINK_EDGES,
    RACK_EDGE_OF_COMPONENT,
    UP_EDGES,
)


def test_the_components_are_the_hardware_that_can_fault() -> None:
    hardware = {"site", "rack", "cdu", "power_shelf", "server", "gpu", "switch", "instrument"}
    assert set(COMPONENT_TYPES) == hardware


def test_the_edges_up_from_each_component() -> None:
    assert UP_EDGES == {
        "gpu": ("in_server",),
        "server": ("in_rack",),
        "rack": ("in_site",),
        "cdu": ("in_site",),
        "power_shelf": ("in_site",),
        "switch": ("in_site", "in_rack"),
        "instrument": ("attached_to",),
    }
    assert all(FLEET.edge(e).temporal for e in CONTAINMENT_EDGES)


def test_the_edge_from_a_rack_to_what_it_depends_on() -> None:
    assert RACK_EDGE_OF_COMPONENT == {
        "cdu": "cooled_by",
        "power_shelf": "powered_by",
        "site": "in_site",
    }


def test_the_link_edges_and_the_data() -> None:
    assert LINK_EDGES == (
        "attached_to", "cooled_by", "in_rack", "in_server", "in_site", "powered_by"
    )
    assert set(DATA_TYPES) == {"dataset", "artifact", "model"}
    assert set(CACHED_TYPES) == {"dataset", "artifact"}
