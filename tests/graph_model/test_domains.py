"""Ids are whole-string matches, and every property checks its declared domain."""

from __future__ import annotations

import math

import pytest

from fleetgraph.graph_model import FLEET, parse_id
from fleetgraph.graph_model.types import DomainError, GraphModelError, Prop, PropKind


@pytest.mark.parametrize("bad", ["cdu:c1\n", "cdu:c1\x00", "cdu:c1\r", "\ncdu:c1", "cdu:c 1",
                                 "cdu:", "cdu:c1\u00e9"])
def test_ids_with_control_or_stray_characters_are_refused(bad: str) -> None:
    with pytest.raises(GraphModelError):
        parse_id(bad)


def test_a_good_id_parses() -> None:
    assert parse_id("fault:cdu:s0042-c1@20261121T100000Z") == (
        "fault", "cdu:s0042-c1@20261121T100000Z")


@pytest.mark.parametrize(
    ("prop", "value", "reason"),
    [
        (Prop("n", PropKind.INT), 2**63, "out_of_range"),  # every store keeps 64 bits
        (Prop("n", PropKind.TIME), -(2**63) - 1, "out_of_range"),
        (Prop("n", PropKind.INT, low=0), -1, "out_of_range"),
        (Prop("x", PropKind.FLOAT), math.nan, "out_of_range"),
        (Prop("x", PropKind.FLOAT, low=0.0, high=1.0), 1.5, "out_of_range"),
        (Prop("s", PropKind.STRING, choices=("a", "b")), "c", "bad_value"),
        (Prop("s", PropKind.STRING), "tab\there", "bad_value"),
        (Prop("s", PropKind.STRING), "\x85", "bad_value"),
        (Prop("s", PropKind.STRING, max_length=3), "abcd", "oversized"),
        (Prop("s", PropKind.STRING), 3, "bad_value"),
    ],
)
def test_values_outside_a_domain_are_refused_with_a_reason(
    prop: Prop, value: object, reason: str
) -> None:
    with pytest.raises(DomainError) as refused:
        prop.check(value)
    assert refused.value.reason == reason


def test_values_inside_a_domain_pass() -> None:
    Prop("n", PropKind.INT).check(2**63 - 1)
    Prop("x", PropKind.FLOAT, low=0.0, high=1.0).check(1.0)
    Prop("s", PropKind.STRING, choices=("a", "b")).check("b")
    Prop("s", PropKind.STRING).check("Zürich 東京 🔥")


def test_attribute_maps_are_checked_against_the_declarations() -> None:
    site = FLEET.node("site")
    assert FLEET.coerce_props(site.props, "a site", {"battery_soc": "0.5"}) == {"battery_soc": 0.5}
    with pytest.raises(DomainError, match=r"battery_soc=7\.5"):
        FLEET.coerce_props(site.props, "a site", {"battery_soc": "7.5"})

