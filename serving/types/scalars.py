"""``Long``: the signed 64-bit integer of fields and arguments that can pass 2^31.

GraphQL's ``Int`` is 32-bit: a 54 GB artifact's ``sizeBytes`` cannot be an
``Int``. Values the fleet reports and the server does not bound (bytes, hit
counters) are ``Long``; values bounded by the graph model or by the server's own
limits (tiers, GPUs of a server, path lengths, page sizes, ``first``/``limit``)
stay ``Int``, so clients keep declaring ``$first: Int``. Times are ``DateTime``.

Annotate with ``Long`` (a ``NewType`` of ``int``) and give the schema
``SCALARS`` as its ``StrawberryConfig.scalar_map``. :func:`ids` gives a list of ids as
``ID`` values without a call per id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NewType, cast

import strawberry
from strawberry.types.scalar import ScalarDefinition

from fleetgraph.serving.errors import ServingError

Long = NewType("Long", int)



def ids(values: Iterable[str]) -> list[strawberry.ID]:
    """``values`` as a list of ``ID`` (a ``NewType`` of ``str``: the same strings; a
    list field of ids in a large answer would otherwise call it once per id)."""
    return cast("list[strawberry.ID]", list(values))


LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1
_DECIMAL = re.compile(r"-?([0-9]+)")


class NotALong(ServingError):
    """A value that is not a signed 64-bit integer where a Long is expected."""


def _in_range(value: int) -> Long:
    if not LONG_MIN <= value <= LONG_MAX:
        raise NotALong(
            f"Long is a signed 64-bit integer (-2^63 to 2^63-1); {value} is out of range"
        )
    return Long(value)


def serialize_long(value: object) -> int:
    """An int within int64, as it is (a JSON number)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotALong(f"Long cannot represent {value!r}: not an integer")
    return _in_range(value)


def parse_long(value: object) -> Long:
    """An int (a literal or a JSON number) or a decimal string, within int64."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _in_range(value)
    decimal = _DECIMAL.fullmatch(value) if isinstance(value, str) else None
    if decimal is not None:
        if len(decimal.group(1).lstrip("0")) > len(str(LONG_MAX)):
            raise NotALong(f"Long is a signed 64-bit integer; {value} is out of range")
        return _in_range(int(decimal.group(0)))
    raise NotALong(f"Long takes an integer or a string of decimal digits, got {value!r}")


LONG = strawberry.scalar(
    name="Long",
    description=(
        "A signed 64-bit integer (-2^63 to 2^63-1), for bytes and counts that can pass "
        "Int's 2^31. Served as a JSON number (above 2^53 JavaScript's Number rounds it: "
        "parse such answers as BigInt). As an argument it takes an integer, or a string "
        "of decimal digits; anything outside the 64-bit range is refused."
    ),
    serialize=serialize_long,
    parse_value=parse_long,
)

SCALARS: dict[object, ScalarDefinition] = {Long: LONG}
