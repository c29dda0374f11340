"""The fragments of a GraphQL document in an order that can be measured once each.

A guard that follows every fragment spread where it appears walks a fragment
as many times as it is spread, which is exponential in a document such as
``fragment F1 on Query { ...F2 ...F2 } fragment F2 on Query { ...F3 ...F3 }``,
and never ends when a fragment spreads itself. :func:`fragment_order` puts
every fragment after the fragments it spreads (or refuses a cycle), in time
linear in the document, so that a guard measures each fragment once and reads
the measure of a spread fragment instead of walking it again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from fleetgraph.serving.errors import ServingError


class FragmentCycle(ServingError):
    """A fragment spreads itself, directly or through other fragments."""

    code = "FRAGMENT_CYCLE"

    def __init__(self, cycle: Sequence[str], spreads: Sequence[FragmentSpreadNode]) -> None:
        self.cycle = tuple(cycle)
        self.spreads = tuple(spreads)  # the spreads that close the cycle, for error locations
        path = " -> ".join(self.cycle)
        super().__init__(f"fragment {self.cycle[0]!r} spreads itself ({path}); a fragment "
                         "may not include itself, directly or through other fragments")


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragments by name (of two with one name, validation refuses both)."""
    return {d.name.value: d for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)}


def spreads_in(selection_set: SelectionSetNode | None) -> Iterator[FragmentSpreadNode]:
    """The fragment spreads of a selection set, at any depth, without entering fragments."""
    pending = [selection_set] if selection_set is not None else []
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                pending.append(selection.selection_set)


_ON_PATH, _DONE = 1, 2


def fragment_order(document: DocumentNode) -> list[FragmentDefinitionNode]:
    """Every fragment of ``document`` after those it spreads; raises :class:`FragmentCycle`.

    Spreads of unknown fragments are left to validation. Every fragment
    definition is read once, and every spread followed once.
    """
    definitions = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    spreads: dict[str, dict[str, FragmentSpreadNode]] = {d.name.value: {} for d in definitions}
    for definition in definitions:  # two definitions of one name: the union of their spreads
        for spread in spreads_in(definition.selection_set):
            if spread.name.value in spreads:
                spreads[definition.name.value].setdefault(spread.name.value, spread)
    named = fragments_of(document)
    order: list[FragmentDefinitionNode] = []
    state: dict[str, int] = {}
    for root in spreads:
        if root in state:
            continue
        state[root] = _ON_PATH
        path: list[tuple[str, Iterator[FragmentSpreadNode]]] = [
            (root, iter(spreads[root].values()))]
        while path:
            name, todo = path[-1]
            following = next(todo, None)
            if following is None:
                path.pop()
                state[name] = _DONE
                order.append(named[name])
                continue
            target = following.name.value
            if state.get(target) == _ON_PATH:
                names = [n for n, _ in path]
                cycle = names[names.index(target):]
                closing = [spreads[a][b] for a, b in zip(cycle, [*cycle[1:], target],
                                                          strict=True)]
                raise FragmentCycle([*cycle, target], closing)
            if target not in state:
                state[target] = _ON_PATH
                path.append((target, iter(spreads[target].values())))
    return order
