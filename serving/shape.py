"""The shape of a GraphQL operation, measured in one pass over its document.

A :class:`Shape` holds what the guards limit: how deep fields nest, how many
aliases there are and an estimate of how many objects the query may touch
(its cost): every field costs one, and a list field multiplies the cost of
what it selects by its ``first`` or ``limit`` argument, by the page of an
enclosing connection (``nodes(first: 100) { items { ... } }``), or by
``ASSUMED_FANOUT``. :class:`ShapeMeter` also counts the pairs of same-named
fields that validation compares to check that they can be merged
(graphql-core's OverlappingFieldsCanBeMergedRule compares them pair by pair,
recursively: its time grows with the square of a document that repeats
fields, a second for 440 copies of ``node(id: "a") { id }``). Fragments are measured once each, in
:func:`fleetgraph.serving.fragments.fragment_order`, and a spread reads the measure of its
fragment, so :class:`ShapeMeter` visits every selection of the document once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    get_named_type,
)
from graphql.language import DocumentNode, OperationDefinitionNode, SelectionSetNode

from fleetgraph.serving.fragments import fragment_order

ASSUMED_FANOUT = 20


@dataclass(frozen=True)
class Shape:
    """``depth``: fields nested in the deepest chain (a field without a selection and
    introspection fields count 0); ``aliases``: aliased fields, and ``size``: fields,
    each fragment counted as often as it is spread; the cost is
    ``fixed + paged * page``, where ``page`` is that of the enclosing connection,
    if any, or ``ASSUMED_FANOUT``."""

    depth: int = 0
    aliases: int = 0
    fixed: int = 0
    paged: int = 0
    size: int = 0

    def cost(self, page: int | None = None) -> int:
        return self.fixed + self.paged * (page or ASSUMED_FANOUT)

    def __add__(self, other: Shape) -> Shape:
        return Shape(max(self.depth, other.depth), self.aliases + other.aliases,
                     self.fixed + other.fixed, self.paged + other.paged,
                     self.size + other.size)


# The fields a selection set selects at its own level (through inline fragments and
# spreads too), by response name: (sum of their sizes, sum of the squares of their
# sizes), which give the pairs to compare. Past MAX_NAMES names, the rest share one
# entry (a bound on the pairs that stays linear to compute).
Level = dict[str, tuple[int, int]]
MAX_NAMES = 64
_OTHERS = ""


def _add(level: Level, name: str, total: int, squares: int) -> None:
    if name not in level and len(level) >= MAX_NAMES:
        name = _OTHERS
    had_total, had_squares = level.get(name, (0, 0))
    level[name] = (had_total + total, had_squares + squares)


def _pairs(level: Level) -> int:
    """Sum over pairs of same-named fields of the product of their sizes: a bound on
    the comparisons that checking that they can be merged takes."""
    return sum((total * total - squares) // 2 for total, squares in level.values())


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def page_size(node: FieldNode) -> int | None:
    """The literal ``first`` or ``limit`` argument of a field, if any (variables are
    not known before the query runs: a field paged by a variable counts as
    ASSUMED_FANOUT)."""
    for argument in node.arguments or ():
        if argument.name.value in ("first", "limit"):
            value = getattr(argument.value, "value", None)
            if isinstance(value, str) and value.isdigit():
                return max(1, int(value))
            return ASSUMED_FANOUT
    return None


class ShapeMeter:
    """Measures the operations of one document; raises
    :class:`fleetgraph.serving.fragments.FragmentCycle` for a fragment that spreads itself.

    ``visits`` counts the selections measured: each selection of the document
    once, however often its fragment is spread. ``merge_pairs`` adds up, over
    every selection set of the document, the pairs of same-named fields it
    selects, each weighted by the product of their sizes.
    """

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.visits = 0
        self.merge_pairs = 0
        self.fragments: dict[str, tuple[Shape, Level]] = {}
        for fragment in fragment_order(document):
            target = self.schema.get_type(fragment.type_condition.name.value)
            self.fragments[fragment.name.value] = self._measure(fragment.selection_set, target)

    def operation(self, operation: OperationDefinitionNode) -> Shape:
        root = self.schema.get_root_type(operation.operation)
        return self._measure(operation.selection_set, root)[0]

    def _measure(self, selection_set: SelectionSetNode, parent: Any) -> tuple[Shape, Level]:
        """``parent`` is the type selected from; None when unknown (no cost then)."""
        shape, level = Shape(), Level()
        for selection in selection_set.selections:
            self.visits += 1
            if isinstance(selection, FieldNode):
                field = self._field(selection, parent)
                shape += field
                response_name = (selection.alias or selection.name).value
                _add(level, response_name, field.size, field.size * field.size)
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                inner, inner_level = self._measure(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                inner, inner_level = self.fragments.get(selection.name.value, (Shape(), {}))
            else:
                continue
            shape += inner
            for name, (total, squares) in inner_level.items():
                _add(level, name, total, squares)
        self.merge_pairs += _pairs(level)
        return shape, level

    def _field(self, node: FieldNode, parent: Any) -> Shape:
        definition = None if parent is None else getattr(parent, "fields", {}).get(node.name.value)
        selected = get_named_type(definition.type) if definition is not None else None
        inner = self._measure(node.selection_set, selected)[0] if node.selection_set else Shape()
        deeper = 0 if node.selection_set is None or node.name.value.startswith("__") else 1
        depth, aliases = deeper * (1 + inner.depth), inner.aliases + (node.alias is not None)
        size = 1 + inner.size
        if definition is None:  # unknown here (validation says so): the field itself
            return Shape(depth, aliases, fixed=int(parent is not None), size=size)
        page = page_size(node)
        if not _is_list(definition.type):
            return Shape(depth, aliases, fixed=1 + inner.cost(page), size=size)
        if page is not None:
            return Shape(depth, aliases, fixed=1 + page * inner.cost(), size=size)
        return Shape(depth, aliases, fixed=1, paged=inner.cost(), size=size)
