"""YAML 1.2 for PyYAML: a composer that keeps every plain scalar's text, the core
schema's scalar resolution, the node builder and the nesting pre-scan.

Scalars resolve by YAML 1.2's core schema: only ``true``/``false`` are booleans,
``17:00`` is a string and so is ``NO``. Composition uses PyYAML's C parser where it
is installed; construction is ours (``Builder``), so positions are recorded in the
same walk, and every problem is a ``Problem`` at a node (``loader.py`` turns it into a
finding): duplicate keys, tags that are not plain data, alias bombs, deep nesting,
integers too long to convert or to store, NUL characters.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Iterable
from typing import Any

import yaml

MAX_NODES_PER_DOCUMENT = 100_000
MAX_DEPTH = 64

_PLAIN = "tag:campaign-gitops,2026:plain"
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_CORE_SCALAR_TAGS = {
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}

_KEY_TAGS = (_PLAIN, _STR)
_ScalarNode = yaml.ScalarNode
_SequenceNode = yaml.SequenceNode

_ParserBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
HAVE_C_PARSER = _ParserBase is not yaml.SafeLoader


class Composer(_ParserBase):  # type: ignore[misc, valid-type]
    """Composes nodes only; every implicit scalar keeps its text for our resolver.

    The composer calls ``descend_resolver(parent, index)`` and ``ascend_resolver()``
    around every node, for path resolvers we do not use: two C built-ins that do
    nothing (``operator.is_``, ``tuple``) instead of PyYAML's Python methods, 12 %
    of composing.
    """

    descend_resolver = operator.is_
    ascend_resolver = tuple

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is _ScalarNode:
            return _PLAIN if implicit and implicit[0] else _STR
        return _SEQ if kind is _SequenceNode else _MAP


# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"^\.(nan|NaN|NAN)$")


# Integers longer than this are refused with a finding: no field takes one, and Python
# refuses to convert a decimal string of more than 4,300 digits (CVE-2020-10735), in a
# file and again whenever the number is printed (hex and octal too).
MAX_INT_DIGITS = 100
# Integers outside a signed 64-bit integer are refused too: the databases cannot bind
# one (SQLite raises OverflowError) and no field needs one.
INT_RANGE = (-(2**63), 2**63 - 1)


class ScalarTooLong(ValueError):
    """A plain scalar that resolves to a number too long to convert or to store."""


def _bounded(value: int, text: str) -> int:
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise ScalarTooLong(f"the integer {text} is out of range (a signed 64-bit integer: "
                            f"{INT_RANGE[0]} to {INT_RANGE[1]})")
    return value


def resolve_core_scalar(text: str) -> Any:
    """Resolve a plain scalar as YAML 1.2's core schema does.

    Raises ScalarTooLong for an integer of more than MAX_INT_DIGITS digits."""
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    first = text[0]
    if first.isdigit() or first in "+-.":
        base = 10 if _INT10.match(text) else 8 if _INT8.match(text) else \
            16 if _INT16.match(text) else 0
        if base:
            digits = text.lstrip("+-") if base == 10 else text[2:]
            if len(digits) > MAX_INT_DIGITS:
                raise ScalarTooLong(f"an integer of {len(digits)} digits is too long (at most "
                                    f"{MAX_INT_DIGITS})")
            return _bounded(int(text) if base == 10 else int(digits, base),
                            text if len(text) <= 30 else f"{text[:12]}…{text[-6:]}")
        if _FLOAT.match(text):
            return float(text)
        if _INF.match(text):
            return -math.inf if text[0] == "-" else math.inf
        if _NAN.match(text):
            return math.nan
    return text


@functools.lru_cache(maxsize=8192)
def _plain(text: str) -> Any:
    """``resolve_core_scalar``, remembered: plain scalars repeat from document to document
    (kinds, channels, statuses, numbers; every value is immutable)."""
    return resolve_core_scalar(text)


Position = tuple[int, int, int, int]  # key line, key column, value line, value column (1-based)


class Problem(Exception):
    def __init__(self, node: yaml.Node, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.hint = hint


def _nul(node: yaml.Node) -> Problem:
    return Problem(node, "a string with a NUL character (\\0)", "remove the \\0: no text "
                   "field takes one, and PostgreSQL cannot store it")


class Builder:
    """Turns a composed node graph into plain data, recording positions."""

    __slots__ = ("active", "budget", "positions", "record")

    def __init__(self, record: bool) -> None:
        self.positions: dict[tuple[str | int, ...], Position] = {}
        self.record = record
        self.budget = MAX_NODES_PER_DOCUMENT
        self.active: set[int] = set()

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        try:
            if tag == _PLAIN:
                return _plain(node.value)
            if tag == _STR:
                if "\x00" in node.value:  # only a "\0" escape can put it there
                    raise _nul(node)
                return node.value
            if tag in _CORE_SCALAR_TAGS:
                value = resolve_core_scalar(node.value)
                expected = tag.rsplit(":", 1)[1]
                kinds: dict[str, type | tuple[type, ...]] = {
                    "int": int, "float": (int, float), "bool": bool, "null": type(None)}
                if not isinstance(value, kinds[expected]) or (
                    expected == "int" and isinstance(value, bool)
                ):
                    raise Problem(node, f"{node.value!r} is not a valid !!{expected}",
                                  "remove the tag or fix the value")
                if expected == "float" and isinstance(value, int | float):
                    return float(value)
                return value
        except ScalarTooLong as exc:
            raise Problem(node, str(exc), 'quote it if it is text, e.g. "12345…"') from None
        raise self._bad_tag(node)

    def build(self, node: yaml.Node, path: tuple[str | int, ...], depth: int) -> Any:
        """Plain data of a node. Hot path: scalar children are handled inline."""
        if node.__class__ is _ScalarNode:
            self.budget -= 1
            return self.scalar(node)
        children = node.value
        self.budget -= 1 + len(children)  # every node counts once per expansion
        if self.budget < 0:
            raise Problem(node, f"document expands to more than {MAX_NODES_PER_DOCUMENT} "
                          "nodes (an alias bomb?)", "remove the anchors and aliases that "
                          "multiply the document")
        if depth > MAX_DEPTH:
            raise Problem(node, f"nesting deeper than {MAX_DEPTH} levels",
                          "flatten the structure")
        key = id(node)
        if key in self.active:
            raise Problem(node, "recursive alias", "an anchor cannot contain an alias to itself")
        self.active.add(key)
        try:
            if node.__class__ is _SequenceNode:
                return self._sequence(node, path, depth)
            return self._mapping(node, path, depth)
        finally:
            self.active.discard(key)

    def _sequence(self, node: yaml.Node, path: tuple[str | int, ...], depth: int) -> list[Any]:
        if node.tag != _SEQ:
            raise self._bad_tag(node)
        record, positions = self.record, self.positions
        items = []
        for i, child in enumerate(node.value):
            if record:
                m = child.start_mark
                positions[(*path, i)] = (m.line + 1, m.column + 1, m.line + 1, m.column + 1)
            if child.__class__ is _ScalarNode:
                items.append(self.scalar(child))
            else:
                items.append(self.build(child, (*path, i), depth + 1))
        return items

    def _mapping(self, node: yaml.Node, path: tuple[str | int, ...],
                 depth: int) -> dict[str, Any]:
        if node.tag != _MAP:
            raise self._bad_tag(node)
        record, positions = self.record, self.positions
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.__class__ is not _ScalarNode or key_node.tag not in _KEY_TAGS:
                raise Problem(key_node, "mapping keys must be plain strings",
                              "use a simple name as the key")
            name = key_node.value
            if "\x00" in name:
                raise _nul(key_node)
            if name in mapping:
                raise self._duplicate(node, key_node)
            if record:
                km, vm = key_node.start_mark, value_node.start_mark
                positions[(*path, name)] = (km.line + 1, km.column + 1,
                                            vm.line + 1, vm.column + 1)
            if value_node.__class__ is _ScalarNode:
                mapping[name] = self.scalar(value_node)
            else:
                mapping[name] = self.build(value_node, (*path, name), depth + 1)
        return mapping

    @staticmethod
    def _duplicate(node: yaml.Node, key_node: yaml.Node) -> Problem:
        name = key_node.value
        first = next(k for k, _ in node.value if k.value == name).start_mark
        return Problem(key_node, f"duplicate key {name!r} (first defined at line "
                       f"{first.line + 1}, column {first.column + 1})", "keep one of them")

    @staticmethod
    def _bad_tag(node: yaml.Node) -> Problem:
        return Problem(node, f"tag {node.tag!r} is not plain data",
                       "remove the tag: only maps, lists, strings, numbers, booleans and "
                       "null are allowed")


# PyYAML's composer recurses once per nesting level (in C with the C parser, where a few
# ten thousand levels overflow the stack). A document can only nest as deep as it has
# lines plus flow brackets, dashes and question marks; above this bound the nesting is
# measured on the (iterative) event stream before composing.
CHEAP_DEPTH_BOUND = 2000


def nesting_bound(text: str) -> int:
    return (text.count("\n") + text.count("[") + text.count("{") + text.count("-")
            + text.count("?"))


def too_deep(text: str) -> yaml.Mark | None:
    """The start of the first collection nested deeper than MAX_DEPTH, if any.

    libyaml stops at a nesting depth of its own (1000 in 0.2.5, with a syntax error
    whose wording is libyaml's): where the C parser gives up, the pure-Python parser,
    which keeps its states on a list and has no such bound, measures the depth, so the
    finding is always ours.
    """
    try:
        return _first_too_deep(yaml.parse(text, Loader=_ParserBase))
    except yaml.MarkedYAMLError:
        if _ParserBase is yaml.SafeLoader:
            raise
    return _first_too_deep(yaml.parse(text, Loader=yaml.SafeLoader))


def _first_too_deep(events: Iterable[yaml.Event]) -> yaml.Mark | None:
    depth = 0
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH + 1:
                return event.start_mark  # type: ignore[no-any-return]
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


# ---------------------------------------------------------------- the plain fast path

try:  # libyaml's event parser without the composer (absent without the C extension)
    from yaml._yaml import CParser as _EventParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _EventParser = None

# Below this many characters a text cannot exceed MAX_NODES_PER_DOCUMENT without aliases:
# the builder counts collections plus entries (pairs and items); every entry takes at
# least one character of the text and there is at most one collection more than there
# are entries, so the count stays under 2 * len(text) + 1. The fast path need not count.
PLAIN_PATH_CHARS = MAX_NODES_PER_DOCUMENT // 2

_ScalarEvent = yaml.ScalarEvent
_MappingEnd = yaml.MappingEndEvent
_SequenceEnd = yaml.SequenceEndEvent
_MappingStart = yaml.MappingStartEvent
_SequenceStart = yaml.SequenceStartEvent
_StreamEnd = yaml.StreamEndEvent


class _Unusual(Exception):
    """Something only the composer's path decides (an anchor, alias or tag, a duplicate
    or non-scalar key, a NUL, deep nesting)."""


def _event_scalar(event: Any) -> Any:
    if event.anchor is not None or event.tag is not None:
        raise _Unusual
    if event.implicit[0]:
        return _plain(event.value)
    if "\x00" in event.value:
        raise _Unusual
    return event.value


def _event_collection(event: Any, get: Any, depth: int) -> Any:
    if event.anchor is not None or event.tag is not None or depth > MAX_DEPTH:
        raise _Unusual
    cls = event.__class__
    if cls is _MappingStart:
        mapping: dict[str, Any] = {}
        while True:
            key = get()
            if key.__class__ is not _ScalarEvent:
                if key.__class__ is _MappingEnd:
                    return mapping
                raise _Unusual
            name = key.value
            if key.anchor is not None or key.tag is not None or name in mapping \
                    or "\x00" in name:
                raise _Unusual
            value = get()
            mapping[name] = _event_scalar(value) if value.__class__ is _ScalarEvent \
                else _event_collection(value, get, depth + 1)
    if cls is _SequenceStart:
        items: list[Any] = []
        while True:
            value = get()
            if value.__class__ is _ScalarEvent:
                items.append(_event_scalar(value))
            elif value.__class__ is _SequenceEnd:
                return items
            else:
                items.append(_event_collection(value, get, depth + 1))
    raise _Unusual  # an alias


def plain_documents(text: str) -> list[tuple[int, Any, int, int]] | None:
    """(index, data, line, column) of each non-empty document of a text that is plain
    data only, built straight from libyaml's events; None when the text has anything
    else (or a syntax error), and then only ``Composer`` + ``Builder`` decide.

    The same data and document starts as that path for every text it accepts, at
    about 60 % of its cost (no node objects): the load of a file whose positions are
    not wanted (lint and plan parse them again only for a finding). No positions.
    """
    if _EventParser is None or len(text) >= PLAIN_PATH_CHARS:
        return None
    parser = _EventParser(text)
    get = parser.get_event
    out: list[tuple[int, Any, int, int]] = []
    index = 0
    try:
        get()  # the stream's start
        while get().__class__ is not _StreamEnd:  # a document's start
            root = get()
            mark = root.start_mark
            data = _event_scalar(root) if root.__class__ is _ScalarEvent \
                else _event_collection(root, get, 0)
            get()  # the document's end
            if data is not None:  # an empty document is no resource
                out.append((index, data, mark.line + 1, mark.column + 1))
            index += 1
    except (_Unusual, yaml.YAMLError, ScalarTooLong):
        return None
    finally:
        parser.dispose()
    return out
