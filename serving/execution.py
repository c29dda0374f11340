"""Leaf fields without graphql-core's per-field machinery.

An answer's scalars are most of its fields: a lineage of 10 nodes and 10 edges is
about 55 fields, a blast radius thousands. graphql-core resolves each one the same
way as a field that reads the store: a resolve-info object, the middleware chain
(strawberry's per-field hooks; fleetgraph's role check, serving.access_guard),
argument coercion, awaitable checks, then the value's completion. That is ~10 µs a
field, several times what the store took to find the row.

:class:`FleetExecutionContext` resolves a *plain leaf* in a few steps instead: a
field with no arguments whose value is a scalar or an enum (or a list of them)
and whose strawberry resolver is either none (an attribute) or a synchronous
method of the object taking nothing but ``self``. It asks the same role check
(each middleware must offer ``plain_field_rule``; the role guard does), reads
the value as strawberry would, and coerces it with the type's own
``coerce_output_value``, as graphql-core's ``complete_leaf_value`` does. Anything
out of the ordinary (a refusal, an exception, a null where none may be, a value
the scalar refuses, a middleware without ``plain_field_rule``) goes the
ordinary way from the start, so errors, their paths and messages are graphql-core's
own, and every answer is the same as without the shortcut (tested field by field
against the plain executor on every type the schema serves).

A list of objects whose selected fields are all plain leaves (lineage's nodes and
edges, the items of affectedJobs and blastRadius) is completed in one loop, without
graphql-core's completion of each item (a path, the object's completion, its
fields' collection and execution); the first item out of the ordinary sends the
whole list the ordinary way. A selected field that is itself a plain list of objects
(read as a plain leaf is, with the same role check: placement's excluded sites'
reasons) is completed the same way, inside the loop, and so is ``__typename`` (the
object type's name, after the same role check graphql-core's middleware makes of it).

What a field needs is worked out once, not per row: its plan once per schema (the
read: ``attrgetter`` for an attribute, the method's own function for a method; the
coercion: a strawberry enum's members by a table its own coercion made, a ``str`` of ID
or String and a ``bool`` of Boolean as they are, since their coercion returns them
unchanged, an ``int`` of Int in range and a finite ``float`` of Float as they are after
that check), and its role check once per
request: the check answers for every source (read it, or a refusal) or, for a field of
a node object or an ``Edge``, gives the check each source still meets.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from math import isfinite
from operator import attrgetter
from typing import Any, Protocol

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    TypeNameMetaFieldDef,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path, gather_with_cancel
from graphql.type.scalars import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    serialize_boolean,
    serialize_float,
    serialize_id,
    serialize_int,
    serialize_string,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter
from strawberry.types.field import StrawberryField

BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF


class PlainFieldCheck(Protocol):
    """A field middleware that can judge a plain leaf without a resolve info: once per
    field and request, None (read it), a refusal, or a check of each source."""

    def plain_field_rule(self, parent_type: GraphQLObjectType, field_name: str,
                         return_type: GraphQLOutputType
                         ) -> str | Callable[[Any], str | None] | None: ...


@dataclass(frozen=True, slots=True)
class PlainLeaf:
    """How to resolve one plain leaf field: read, then coerce (item by item in a list).
    ``same``: a type whose values the leaf's coercion returns unchanged (str for ID and
    String, bool for Boolean), so they skip it; ``coerce``: the coercion of any other,
    raising :class:`_Irregular` where the ordinary completion answers with an error."""

    read: Callable[[Any], Any]
    leaf: GraphQLLeafType
    return_type: GraphQLOutputType
    non_null: bool
    is_list: bool
    items_non_null: bool
    same: type | None
    coerce: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class PlainList:
    """How to resolve a plain list of objects (a field read as a plain leaf is, whose
    type is a list of objects): read, then complete its items as a plain object list."""

    read: Callable[[Any], Any]
    return_type: GraphQLOutputType
    non_null: bool
    item_type: GraphQLOutputType  # the list's item type (non-null or not)


def _plain_read(field_def: GraphQLField) -> Callable[[Any], Any] | None:
    """How a plain field is read: an attribute, or a synchronous method of the object
    taking nothing but ``self``, with no arguments, extensions or permissions; None
    for any other field."""
    field = (field_def.extensions or {}).get(BACKREF)
    if not isinstance(field, StrawberryField) or field_def.args or field.extensions \
            or field.permission_classes:
        return None
    resolver = field.base_resolver
    if resolver is None and field.default_resolver is getattr:
        return attrgetter(field.python_name)  # StrawberryField.get_result's getattr
    if resolver is None:  # as StrawberryField.get_result: its default resolver, by name
        return partial(_read_attribute, field.default_resolver, field.python_name)
    if (not resolver.is_async and not resolver.arguments and resolver.self_parameter
            and resolver.info_parameter is None and resolver.root_parameter is None
            and resolver.parent_parameter is None):
        # as get_result with the source as its only argument (self): the function
        # itself where it is one (StrawberryResolver.__call__ only forwards to it)
        wrapped = resolver.wrapped_func
        return wrapped if callable(wrapped) else resolver
    return None


def plain_list(field_def: GraphQLField) -> PlainList | None:
    """The plan of a plain list of objects (excluded sites' reasons); None for any
    other field."""
    kind: GraphQLOutputType = field_def.type
    non_null = isinstance(kind, GraphQLNonNull)
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    if not isinstance(kind, GraphQLList):
        return None
    item = kind.of_type
    inner = item.of_type if isinstance(item, GraphQLNonNull) else item
    if not isinstance(inner, GraphQLObjectType):
        return None
    read = _plain_read(field_def)
    return None if read is None else PlainList(read, field_def.type, non_null, item)


def plain_leaf(field_def: GraphQLField) -> PlainLeaf | None:
    """The plan of a plain leaf field (see the module doc); None for any other."""
    read = _plain_read(field_def)
    if read is None:
        return None
    kind: GraphQLOutputType = field_def.type
    non_null = isinstance(kind, GraphQLNonNull)
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    is_list = isinstance(kind, GraphQLList)
    items_non_null = False
    if isinstance(kind, GraphQLList):
        kind = kind.of_type
        items_non_null = isinstance(kind, GraphQLNonNull)
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
    if not is_leaf_type(kind):
        return None
    assert isinstance(kind, GraphQLLeafType)
    same, coerce = _coercion(kind)
    return PlainLeaf(read, kind, field_def.type, non_null, is_list, items_non_null, same,
                     coerce)


def _read_attribute(resolve: Callable[[Any, str], Any], name: str, source: Any) -> Any:
    return resolve(source, name)


# graphql-core's coercions that return a value of this type unchanged
_SAME: dict[Callable[[Any], Any], type] = {
    serialize_id: str, serialize_string: str, serialize_boolean: bool}


def _coercion(leaf: GraphQLLeafType) -> tuple[type | None, Callable[[Any], Any]]:
    """``same`` and ``coerce`` of :class:`PlainLeaf` for ``leaf``: a strawberry enum's
    members by a table made with its own coercion (which scans the enum's values)."""
    if isinstance(leaf, CustomGraphQLEnumType):
        members: Any = leaf.wrapped_cls
        try:
            names = {member: _coerced(leaf, member) for member in members}
        except Exception:
            return None, partial(_coerced, leaf)
        return None, partial(_enum_coerced, leaf, members, names)
    checked = _CHECKED.get(leaf.coerce_output_value)
    if checked is not None:
        return None, partial(checked, leaf)
    return _SAME.get(leaf.coerce_output_value), partial(_coerced, leaf)


def _int_coerced(leaf: GraphQLLeafType, value: Any) -> Any:
    """An ``int`` in GraphQL's 32-bit range as it is (as ``serialize_int`` returns it);
    any other value through the leaf's own coercion."""
    if type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT:
        return value
    return _coerced(leaf, value)


def _float_coerced(leaf: GraphQLLeafType, value: Any) -> Any:
    """A finite ``float`` as it is (as ``serialize_float`` returns it); any other value
    through the leaf's own coercion."""
    if type(value) is float and isfinite(value):
        return value
    return _coerced(leaf, value)


# graphql-core's coercions that return a value of this type unchanged once it passes a
# check: Int's range, Float's finiteness (checked here without their three calls)
_CHECKED: dict[Callable[[Any], Any], Callable[[GraphQLLeafType, Any], Any]] = {
    serialize_int: _int_coerced, serialize_float: _float_coerced}


def _enum_coerced(leaf: GraphQLLeafType, members: type, names: dict[Any, str],
                  value: Any) -> Any:
    if type(value) is members:  # an Enum with members has no subclasses
        return names[value]
    return _coerced(leaf, value)


_NOT_PLAIN = object()  # the shortcut does not apply: resolve the ordinary way

# per schema, per (object type, field name): the field's plan, or None when not plain
_PLANS: weakref.WeakKeyDictionary[GraphQLSchema, dict[tuple[str, str], PlainLeaf | None]] = (
    weakref.WeakKeyDictionary())

# a plain field in one request: its plan and the role checks asked of each source
# (none when every check judged the field by its names alone)
PlainField = tuple[PlainLeaf, tuple[Callable[[Any], str | None], ...]]
# a plain list of objects in one request: its plan and the role checks of each source
PlainListField = tuple[PlainList, tuple[Callable[[Any], str | None], ...]]


class FleetExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with plain leaves resolved directly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        middlewares = list(manager.middlewares) if manager is not None else []
        checks = [getattr(m, "plain_field_rule", None) for m in middlewares]
        self._checks: list[Callable[..., Any]] | None = (
            None if any(c is None for c in checks) else [c for c in checks if c is not None])
        plans = _PLANS.get(self.schema)
        if plans is None:
            plans = _PLANS[self.schema] = {}
        self._plans = plans
        # per (object type, field name): the field in this request, None when not plain
        self._fields: dict[tuple[str, str], PlainField | None] = {}
        self._lists: dict[tuple[str, str], PlainListField | None] = {}
        # per (selection, source object): the object completed in this request
        self._done: dict[tuple[Any, int], tuple[Any, dict[str, Any]]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's ``execute_fields`` (the fields of one object, concurrently),
        with plain leaves resolved first by :func:`_completed` (no path made for them)."""
        if self._checks is None:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set,
                                          position_context)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                node = field_details_list[0].node
                if not node.arguments:
                    plain = self._field(parent_type, node.name.value)
                    if plain is not None:
                        value = _completed(plain, source_value)
                        if value is not _NOT_PLAIN:
                            results[response_name] = value
                            continue
                result = self.execute_field(
                    parent_type, source_value, field_details_list,
                    Path(path, response_name, parent_type.name), position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        """A list of objects whose selected fields are all plain leaves (lineage's nodes
        and edges, affectedJobs' and blastRadius' items) is completed object by object
        in one loop; any other list, or anything out of the ordinary in this one, the
        ordinary way (graphql-core's, from the start)."""
        completed = self._plain_objects(item_type, field_details_list, info, items)
        if completed is not _NOT_PLAIN:
            return completed
        return super().complete_iterable_value(item_type, field_details_list, info, path,
                                               items, position_context)

    def _plain_objects(self, item_type: GraphQLOutputType,
                       field_details_list: FieldDetailsList, info: GraphQLResolveInfo[Any],
                       items: Iterable[Any]) -> Any:
        non_null = isinstance(item_type, GraphQLNonNull)
        obj = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if self._checks is None or not isinstance(obj, GraphQLObjectType) \
                or not isinstance(items, list | tuple):
            return _NOT_PLAIN
        grouped, defers, _ = self.collect_subfields(obj, field_details_list)
        if defers:
            return _NOT_PLAIN
        fields: list[tuple[str, PlainField]] = []
        lists: list[tuple[str, PlainListField, FieldDetailsList]] = []
        typenames: list[tuple[str, tuple[Callable[[Any], str | None], ...]]] = []
        for response_name, details in grouped.items():
            node = details[0].node
            if node.arguments:
                return _NOT_PLAIN
            if node.name.value == "__typename":  # the object's name, after the role check
                checks = self._source_checks(obj, "__typename", TypeNameMetaFieldDef.type)
                if checks is None:
                    return _NOT_PLAIN
                typenames.append((response_name, checks))
                continue
            plain = self._field(obj, node.name.value)
            if plain is not None:
                fields.append((response_name, plain))
                continue
            nested = self._list_field(obj, node.name.value)
            if nested is None:
                return _NOT_PLAIN
            lists.append((response_name, nested, details))
        is_type_of = obj.is_type_of
        is_awaitable = self.is_awaitable
        completed: list[Any] = []
        # an object met again with the same fields (a residency's violation is also a
        # place) is completed once: its values depend on the object and the fields only
        selection = None if lists else (obj.name, *[
            (name, details[0].node.name.value) for name, details in grouped.items()])
        done = self._done
        for item in items:
            if item is None:
                if non_null:
                    return _NOT_PLAIN
                completed.append(None)
                continue
            if selection is not None:
                seen = done.get((selection, id(item)))
                if seen is not None and seen[0] is item:
                    completed.append(seen[1])
                    continue
            if is_awaitable(item) or (is_type_of is not None
                                      and is_type_of(item, info) is not True):
                return _NOT_PLAIN
            values: dict[str, Any] = {}
            for response_name, plain in fields:
                plan, per_source = plain
                if not per_source and not plan.is_list:  # _completed's leaf case, inline
                    try:
                        value = plan.read(item)
                        if value is None:
                            if plan.non_null:
                                return _NOT_PLAIN
                        elif type(value) is not plan.same:
                            value = plan.coerce(value)
                    except Exception:
                        return _NOT_PLAIN  # the ordinary way raises it
                else:
                    value = _completed(plain, item)
                    if value is _NOT_PLAIN:
                        return _NOT_PLAIN
                values[response_name] = value
            for response_name, nested, details in lists:
                value = self._plain_list(nested, details, info, item)
                if value is _NOT_PLAIN:
                    return _NOT_PLAIN
                values[response_name] = value
            for response_name, per_source in typenames:
                for check in per_source:
                    if check(item) is not None:
                        return _NOT_PLAIN
                values[response_name] = obj.name
            if lists or typenames:  # in the selection's order, as ordinary completion has
                values = {name: values[name] for name in grouped}
            if selection is not None:
                done[(selection, id(item))] = (item, values)
            completed.append(values)
        return completed

    def _plain_list(self, nested: PlainListField, details: FieldDetailsList,
                    info: GraphQLResolveInfo[Any], source: Any) -> Any:
        """A plain list of objects of ``source``, completed as :meth:`_plain_objects`
        completes a list, or _NOT_PLAIN."""
        plan, per_source = nested
        for check in per_source:
            if check(source) is not None:
                return _NOT_PLAIN
        try:
            value = plan.read(source)
        except Exception:
            return _NOT_PLAIN  # the ordinary way raises it
        if value is None:
            return _NOT_PLAIN if plan.non_null else None
        return self._plain_objects(plan.item_type, details, info, value)

    def _list_field(self, parent_type: GraphQLObjectType, name: str) -> PlainListField | None:
        """Field ``name`` of ``parent_type`` as a plain list of objects in this request,
        with the role checks left for each source (as :meth:`_field`); None when it is
        not one or a check refuses it whatever the source."""
        key = (parent_type.name, name)
        try:
            return self._lists[key]
        except KeyError:
            pass
        field_def = parent_type.fields.get(name)
        plan = None if field_def is None else plain_list(field_def)
        checks = None if plan is None else self._source_checks(parent_type, name,
                                                               plan.return_type)
        found = None if plan is None or checks is None else (plan, checks)
        self._lists[key] = found
        return found

    def _source_checks(self, parent_type: GraphQLObjectType, name: str,
                       return_type: GraphQLOutputType
                       ) -> tuple[Callable[[Any], str | None], ...] | None:
        """The role checks a plain field leaves for each source; None when one refuses
        it whatever the source (or a middleware cannot judge it plain)."""
        if self._checks is None:
            return None
        per_source: list[Callable[[Any], str | None]] = []
        for check in self._checks:
            rule = check(parent_type, name, return_type)
            if callable(rule):
                per_source.append(rule)
            elif rule is not None:
                return None
        return tuple(per_source)

    def _field(self, parent_type: GraphQLObjectType, name: str) -> PlainField | None:
        """Field ``name`` of ``parent_type`` in this request: its plan and the role checks
        left for each source; None when it is not plain or a check refuses it whatever
        the source (the ordinary way then raises the refusal)."""
        key = (parent_type.name, name)
        try:
            return self._fields[key]
        except KeyError:
            pass
        plan = self._plan(parent_type, key)
        checks = None if plan is None else self._source_checks(parent_type, name,
                                                               plan.return_type)
        plain = None if plan is None or checks is None else (plan, checks)
        self._fields[key] = plain
        return plain

    def _plan(self, parent_type: GraphQLObjectType, key: tuple[str, str]) -> PlainLeaf | None:
        try:
            return self._plans[key]
        except KeyError:
            field_def = parent_type.fields.get(key[1])
            plan = self._plans[key] = None if field_def is None else plain_leaf(field_def)
            return plan


def _completed(plain: PlainField, source: Any) -> Any:
    """The value of a plain field of ``source``, or _NOT_PLAIN (see the module doc)."""
    plan, per_source = plain
    for check in per_source:
        if check(source) is not None:
            return _NOT_PLAIN
    try:
        value = plan.read(source)
        if value is None:
            return _NOT_PLAIN if plan.non_null else None
        same = plan.same
        if not plan.is_list:
            return value if type(value) is same else plan.coerce(value)
        if not isinstance(value, list | tuple):
            return _NOT_PLAIN
        coerce = plan.coerce
        items: list[Any] = []
        for item in value:
            if type(item) is same:
                items.append(item)
            elif item is None:
                if plan.items_non_null:
                    return _NOT_PLAIN
                items.append(None)
            else:
                items.append(coerce(item))
        return items
    except Exception:
        return _NOT_PLAIN  # _Irregular, or any error: the ordinary way raises it


class _Irregular(Exception):
    """A value the ordinary completion would answer with an error."""


def _coerced(leaf: GraphQLLeafType, value: Any) -> Any:
    coerced = leaf.coerce_output_value(value)
    if coerced is None or coerced is Undefined:
        raise _Irregular
    return coerced
