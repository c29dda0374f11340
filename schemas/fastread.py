"""Avro binary bodies read by code generated once per writer schema.

``fastavro.schemaless_reader`` walks the schema for every message (a dict lookup
and a call per field, its options, its decoder object): for the events' flat
records that is most of a decode. :func:`compile_reader` turns a parsed schema
into one Python function of straight-line code that reads a body from a
``bytes`` at an offset and returns the value and the offset after it (one-byte
varints, the common case, read inline; strings sliced and decoded; unions of
null and one type read as a test on one byte).

It reads what the writer wrote, with no schema resolution (a codec uses it only
when the reader's schema is the writer's), and it only answers for a well-formed
body: on anything else (truncated, a bad union or enum index, a negative length,
a varint beyond 64 bits, invalid UTF-8) it raises, and the caller decodes the
message with fastavro, whose result or error is the one that counts. A body may
also read to the wrong end (a length too long is cut by the slice): the caller
checks that the reader ended at the payload's end, as it checks fastavro's.
A schema with a type this module does not generate (boolean, fixed, a logical
type) has no reader (:func:`compile_reader` returns None).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

Reader = Callable[[bytes, int], tuple[Any, int]]  # (payload, offset) -> (value, offset)

# the fewest bytes a primitive is written in (a varint or a length: one)
PRIMITIVE_SIZES = {"null": 0, "boolean": 1, "int": 1, "long": 1, "float": 4, "double": 8,
                   "string": 1, "bytes": 1}
SIMPLE = frozenset({"null", "int", "long", "float", "double", "string", "bytes"})


class Malformed(Exception):
    """The body is not one this reader reads (the caller asks fastavro)."""


def read_long(p: bytes, i: int, b: int) -> tuple[int, int]:
    """The zigzag-decoded long whose first byte ``b`` (continued) was read before ``i``."""
    n = b & 0x7F
    shift = 7
    while b & 0x80:
        b = p[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if shift > 70:
            raise Malformed("a varint longer than 10 bytes")
    if n >> 64:
        raise Malformed("a varint beyond 64 bits")
    return (n >> 1) ^ -(n & 1), i


def _length(p: bytes, i: int, b: int) -> tuple[int, int]:
    """A string's or bytes' length (first byte ``b`` read before ``i``), never negative."""
    n, i = read_long(p, i, b)
    if n < 0:
        raise Malformed("a negative length")
    return n, i


def _count(p: bytes, i: int) -> tuple[int, int]:
    """An array's or map's block count at ``i`` (a negative count is followed by the
    block's size in bytes, skipped)."""
    n, i = read_long(p, i + 1, p[i])
    if n < 0:
        n = -n
        _, i = read_long(p, i + 1, p[i])
    return n, i


def _bad(what: str) -> None:
    raise Malformed(what)


class _Generator:
    def __init__(self) -> None:
        self.functions: list[list[str]] = []
        self.names: dict[str, str] = {}  # full name of a record -> its function
        self.enums: dict[str, str] = {}  # full name of an enum -> its symbols' constant
        self.named: dict[str, Any] = {}  # full name -> schema (named types met so far)
        self.constants: dict[str, Any] = {}
        self.counter = 0

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in SIMPLE:
            if schema not in self.named:
                raise NotImplementedError(f"type {schema!r}")
            return self.named[schema]
        if isinstance(schema, dict) and schema.get("type") in SIMPLE and len(
                [k for k in schema if not k.startswith("__")]) == 1:
            return schema["type"]
        return schema

    def record(self, schema: dict[str, Any]) -> str:
        """The name of the function reading records of ``schema``."""
        name = str(schema["name"])
        if name in self.names:
            return self.names[name]
        function = self.fresh("record")
        self.names[name] = function
        self.named[name] = schema
        lines = [f"def {function}(p, i):"]
        values = []
        for field in schema["fields"]:
            var = self.fresh("v")
            lines += self.value(field["type"], var, "    ")
            values.append(f"{field['name']!r}: {var}")
        lines.append(f"    return {{{', '.join(values)}}}, i")
        self.functions.append(lines)
        return function

    def value(self, schema: Any, var: str, pad: str) -> list[str]:
        """Lines reading one value of ``schema`` at ``i`` into ``var`` (``i`` moved on)."""
        schema = self.resolve(schema)
        if isinstance(schema, list):
            return self.union(schema, var, pad)
        if isinstance(schema, str):
            return self.simple(schema, var, pad)
        if not isinstance(schema, dict) or "logicalType" in schema:
            raise NotImplementedError(repr(schema))
        kind = schema.get("type")
        if kind == "record" or kind == "error":
            return [f"{pad}{var}, i = {self.record(schema)}(p, i)"]
        if kind == "enum":
            return self.enum(schema, var, pad)
        if kind == "array":
            item = self.fresh("v")
            n = self.fresh("n")
            return [f"{pad}{var} = []",
                    *self.count(n, pad),
                    f"{pad}while {n}:",
                    f"{pad}    for _ in range({n}):",
                    *self.value(schema["items"], item, pad + "        "),
                    f"{pad}        {var}.append({item})",
                    *self.count(n, pad + "    ")]
        if kind == "map":
            key, item = self.fresh("k"), self.fresh("v")
            n = self.fresh("n")
            return [f"{pad}{var} = {{}}",
                    *self.count(n, pad),
                    f"{pad}while {n}:",
                    f"{pad}    for _ in range({n}):",
                    *self.simple("string", key, pad + "        "),
                    *self.value(schema["values"], item, pad + "        "),
                    f"{pad}        {var}[{key}] = {item}",
                    *self.count(n, pad + "    ")]
        raise NotImplementedError(f"type {kind!r}")

    @staticmethod
    def count(var: str, pad: str) -> list[str]:
        """A block count (a one-byte even varint, the common case, inline)."""
        return [f"{pad}b = p[i]",
                f"{pad}if b & 0x81:",
                f"{pad}    {var}, i = _count(p, i)",
                f"{pad}else:",
                f"{pad}    {var} = b >> 1",
                f"{pad}    i += 1"]

    def enum(self, schema: dict[str, Any], var: str, pad: str) -> list[str]:
        name = str(schema["name"])
        symbols = self.enums.get(name)
        if symbols is None:
            symbols = self.fresh("symbols")
            self.constants[symbols] = tuple(schema["symbols"])
            self.enums[name] = symbols
            self.named[name] = schema
        index = self.fresh("x")
        return [*self.long(index, pad),
                f"{pad}if not 0 <= {index} < {len(schema['symbols'])}:",
                f"{pad}    _bad('enum index')",
                f"{pad}{var} = {symbols}[{index}]"]

    def union(self, branches: list[Any], var: str, pad: str) -> list[str]:
        if len(branches) == 2 and self.resolve(branches[0]) == "null":
            # the usual optional field: index 0 (byte 0) is null, 1 (byte 2) the type
            return [f"{pad}b = p[i]",
                    f"{pad}i += 1",
                    f"{pad}if b == 0:",
                    f"{pad}    {var} = None",
                    f"{pad}elif b == 2:",
                    *self.value(branches[1], var, pad + "    "),
                    f"{pad}else:",
                    f"{pad}    _bad('union index')"]
        index = self.fresh("x")
        lines = self.long(index, pad)
        for n, branch in enumerate(branches):
            lines.append(f"{pad}{'if' if n == 0 else 'elif'} {index} == {n}:")
            lines += self.value(branch, var, pad + "    ")
        lines += [f"{pad}else:", f"{pad}    _bad('union index')"]
        return lines

    @staticmethod
    def long(var: str, pad: str) -> list[str]:
        return [f"{pad}b = p[i]",
                f"{pad}i += 1",
                f"{pad}if b < 128:",
                f"{pad}    {var} = (b >> 1) ^ -(b & 1)",
                f"{pad}else:  # longer: its 7-bit groups, least significant first",
                f"{pad}    {var} = b & 127",
                f"{pad}    s = 7",
                f"{pad}    while b & 128:",
                f"{pad}        b = p[i]",
                f"{pad}        i += 1",
                f"{pad}        {var} |= (b & 127) << s",
                f"{pad}        s += 7",
                f"{pad}    if s > 70 or {var} >> 64:",
                f"{pad}        _bad('a varint beyond 64 bits')",
                f"{pad}    {var} = ({var} >> 1) ^ -({var} & 1)"]

    def simple(self, kind: str, var: str, pad: str) -> list[str]:
        if kind == "null":
            return [f"{pad}{var} = None"]
        if kind in ("int", "long"):
            return self.long(var, pad)
        if kind == "double":
            return [f"{pad}{var}, = _double(p, i)", f"{pad}i += 8"]
        if kind == "float":
            return [f"{pad}{var}, = _float(p, i)", f"{pad}i += 4"]
        # string or bytes: a length (a one-byte even varint is a length under 64), the bytes
        end = self.fresh("e")
        lines = [f"{pad}b = p[i]",
                 f"{pad}i += 1",
                 f"{pad}if b & 0x81:",
                 f"{pad}    {end}, i = _length(p, i, b)",
                 f"{pad}    {end} += i",
                 f"{pad}else:",
                 f"{pad}    {end} = i + (b >> 1)"]
        if kind == "string":
            return [*lines, f"{pad}{var} = p[i:{end}].decode()", f"{pad}i = {end}"]
        return [*lines, f"{pad}{var} = p[i:{end}]", f"{pad}i = {end}"]


def items_take_a_byte(schema: Any, named: dict[str, Any] | None = None) -> bool:
    """True when every array item and map entry of (parsed) ``schema`` is written in one
    byte at least: then a body of n bytes holds no string longer than n characters and
    no array or map of more than n items (a validator's size checks can stand on it)."""
    named = {} if named is None else named
    return _walk_items(schema, named, set())


def min_size(schema: Any, named: dict[str, Any], seen: set[str]) -> int:
    """The fewest bytes a value of ``schema`` is written in (0 when unsure)."""
    if isinstance(schema, str):
        if schema in named:
            if schema in seen:
                return 0
            return min_size(named[schema], named, seen | {schema})
        return PRIMITIVE_SIZES.get(schema, 0)
    if isinstance(schema, list):
        return 1  # the branch index
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "error"):
            named[str(schema["name"])] = schema
            name = str(schema["name"])
            return sum(min_size(f["type"], named, seen | {name}) for f in schema["fields"])
        if kind == "fixed":
            return int(schema.get("size", 0))
        if kind == "enum":
            named[str(schema["name"])] = schema
            return 1
        if kind in ("array", "map"):
            return 1  # the block count
        return min_size(kind, named, seen)
    return 0


def _walk_items(schema: Any, named: dict[str, Any], seen: set[str]) -> bool:
    if isinstance(schema, str):
        if schema in named and schema not in seen:
            return _walk_items(named[schema], named, seen | {schema})
        return True
    if isinstance(schema, list):
        return all(_walk_items(branch, named, seen) for branch in schema)
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind in ("record", "error"):
        name = str(schema["name"])
        named[name] = schema
        return all(_walk_items(f["type"], named, seen | {name}) for f in schema["fields"])
    if kind == "enum":
        named[str(schema["name"])] = schema
        return True
    if kind == "array":
        items = schema["items"]
        return min_size(items, named, set()) >= 1 and _walk_items(items, named, seen)
    if kind == "map":  # an entry's key is a string: one byte at least
        return _walk_items(schema["values"], named, seen)
    return True


def reader_source(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The generated module's source and its constants (for a record schema)."""
    generator = _Generator()
    top = generator.record(schema)
    source = "\n\n".join("\n".join(lines) for lines in generator.functions)
    return f"{source}\n\nREAD = {top}\n", generator.constants


def compile_reader(schema: dict[str, Any]) -> Reader | None:
    """A reader of bodies written with the (fastavro-parsed) record ``schema``, or None
    when the schema holds a type it does not generate."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    try:
        source, constants = reader_source(schema)
    except NotImplementedError:
        return None
    namespace: dict[str, Any] = {
        "_varint": read_long, "_length": _length, "_count": _count, "_bad": _bad,
        "_double": struct.Struct("<d").unpack_from, "_float": struct.Struct("<f").unpack_from,
        **constants,
    }
    exec(compile(source, f"<avro reader of {schema.get('name')}>", "exec"), namespace)
    reader: Reader = namespace["READ"]
    return reader
