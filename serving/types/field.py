"""``@field(name=..., description=...)``: ``strawberry.field`` with arguments, typed.

``strawberry.field(description=...)`` used as a decorator is untyped for mypy;
this wrapper keeps the decorated resolver's signature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry

F = TypeVar("F", bound=Callable[..., Any])


def field(*, name: str | None = None, description: str | None = None) -> Callable[[F], F]:
    return cast(Callable[[F], F], strawberry.field(name=name, description=description))
