"""YAML loading with positions, YAML 1.2 core scalars and safe bounds.

Every problem becomes a Finding (rule ``SCHEMA``), never an exception: syntax errors
with the parser's position, duplicate keys, tags that are not plain data, alias bombs,
oversized files, bytes that are not UTF-8 and symlinks that leave the repository.

Scalars resolve by YAML 1.2's core schema: only ``true``/``false`` are booleans,
``17:00`` is a string and so is ``NO``. Composition uses PyYAML's C parser where it
is installed; construction is ours, so positions are recorded in the same walk.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from campaign_gitops.findings import Finding, Location, Severity

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES_PER_DOCUMENT = 100_000
MAX_DEPTH = 64
YAML_SUFFIXES = (".yaml", ".yml")

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


class _Composer(_ParserBase):  # type: ignore[misc, valid-type]
    """Composes nodes only; every implicit scalar keeps its text for our resolver."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit and implicit[0] else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


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


def pointer(path: tuple[str | int, ...]) -> str:
    """JSON pointer (RFC 6901) of a path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


Position = tuple[int, int, int, int]  # key line, key column, value line, value column (1-based)


@dataclass(eq=False, slots=True)
class Document:
    """One YAML document: plain data plus the position of every key and value."""

    file: str
    index: int
    data: Any
    line: int
    column: int
    recorded: dict[tuple[str | int, ...], Position] | None = None
    text_hash: str = ""
    source: LazyPositions | None = None

    @property
    def positions(self) -> dict[tuple[str | int, ...], Position]:
        """Positions of every key and value; parsed again on first use when loaded lazily."""
        if self.recorded is None:
            self.recorded = self.source.of(self.index) if self.source is not None else {}
        return self.recorded

    def locate(self, path: tuple[str | int, ...] = (), *, value: bool = False) -> Location:
        """The location of ``path``: its key (or value), else its nearest ancestor."""
        probe = tuple(path)
        while probe:
            pos = self.positions.get(probe)
            if pos is not None:
                line, col = (pos[2], pos[3]) if value else (pos[0], pos[1])
                return Location(self.file, line, col, pointer(path))
            probe = probe[:-1]
        return Location(self.file, self.line, self.column, pointer(path))


class LazyPositions:
    """A file's text, parsed again with positions only when a finding needs a place.

    Most files have no finding, so the first pass skips recording positions; the
    second parse (same text, same parser) yields the same documents, with positions.
    With ``path`` instead of ``text`` the file is read then (a parse-cache hit).
    """

    __slots__ = ("_by_index", "file", "path", "text")

    def __init__(self, text: str | None, file: str, path: str | None = None) -> None:
        self.text = text
        self.file = file
        self.path = path
        self._by_index: dict[int, dict[tuple[str | int, ...], Position]] | None = None

    def of(self, index: int) -> dict[tuple[str | int, ...], Position]:
        if self._by_index is None:
            text = self.text
            if text is None and self.path is not None:
                try:
                    with open(self.path, "rb") as fh:
                        text = fh.read().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
                except (OSError, UnicodeDecodeError):
                    text = ""
            again = parse_text(text or "", self.file, record_positions=True)
            self._by_index = {d.index: d.positions for d in again.documents}
            self.text = None
        return self._by_index.get(index, {})


@dataclass(frozen=True, slots=True)
class BrokenDocument:
    """A document that did not load (duplicate key, bad tag, syntax error), with the
    identity it declares as far as it can be read, and where its error is."""

    kind: str
    name: str
    client: str | None
    error: Location


# A comment: (line, column of the '#', its text). A candidate: a '#' at a line start or
# after a blank, which may still lie inside a quoted or block scalar.
Comment = tuple[int, int, str]


@dataclass(slots=True)
class FileResult:
    """Everything one file yielded: its documents and the findings of loading it.

    ``broken``: the documents that did not load, by identity (for "does not load"
    messages); ``comments``: the file's comment candidates (for the secret scan).
    """

    file: str
    sha256: str
    documents: list[Document] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    broken: list[BrokenDocument] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.is_error for f in self.findings)


def _finding(file: str, line: int, column: int, message: str, hint: str = "",
             path: str = "") -> Finding:
    return Finding("SCHEMA", Severity.ERROR, Location(file, line, column, path), message,
                   hint=hint)


class _Problem(Exception):
    def __init__(self, node: yaml.Node, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.hint = hint


def _nul(node: yaml.Node) -> _Problem:
    return _Problem(node, "a string with a NUL character (\\0)", "remove the \\0: no text "
                    "field takes one, and PostgreSQL cannot store it")


class _Builder:
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
                return resolve_core_scalar(node.value)
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
                    raise _Problem(node, f"{node.value!r} is not a valid !!{expected}",
                                   "remove the tag or fix the value")
                if expected == "float" and isinstance(value, int | float):
                    return float(value)
                return value
        except ScalarTooLong as exc:
            raise _Problem(node, str(exc), 'quote it if it is text, e.g. "12345…"') from None
        raise self._bad_tag(node)

    def build(self, node: yaml.Node, path: tuple[str | int, ...], depth: int) -> Any:
        """Plain data of a node. Hot path: scalar children are handled inline."""
        if node.__class__ is _ScalarNode:
            self.budget -= 1
            return self.scalar(node)
        children = node.value
        self.budget -= 1 + len(children)  # every node counts once per expansion
        if self.budget < 0:
            raise _Problem(node, f"document expands to more than {MAX_NODES_PER_DOCUMENT} "
                           "nodes (an alias bomb?)", "remove the anchors and aliases that "
                           "multiply the document")
        if depth > MAX_DEPTH:
            raise _Problem(node, f"nesting deeper than {MAX_DEPTH} levels",
                           "flatten the structure")
        key = id(node)
        if key in self.active:
            raise _Problem(node, "recursive alias", "an anchor cannot contain an alias to itself")
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
                raise _Problem(key_node, "mapping keys must be plain strings",
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
    def _duplicate(node: yaml.Node, key_node: yaml.Node) -> _Problem:
        name = key_node.value
        first = next(k for k, _ in node.value if k.value == name).start_mark
        return _Problem(key_node, f"duplicate key {name!r} (first defined at line "
                        f"{first.line + 1}, column {first.column + 1})", "keep one of them")

    @staticmethod
    def _bad_tag(node: yaml.Node) -> _Problem:
        return _Problem(node, f"tag {node.tag!r} is not plain data",
                        "remove the tag: only maps, lists, strings, numbers, booleans and "
                        "null are allowed")


def _line_col_of_offset(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


# PyYAML's composer recurses once per nesting level (in C with the C parser, where a few
# ten thousand levels overflow the stack). A document can only nest as deep as it has
# lines plus flow brackets, dashes and question marks; above this bound the nesting is
# measured on the (iterative) event stream before composing.
_CHEAP_DEPTH_BOUND = 2000


def _nesting_bound(text: str) -> int:
    return (text.count("\n") + text.count("[") + text.count("{") + text.count("-")
            + text.count("?"))


def _too_deep(text: str) -> yaml.Mark | None:
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


def _offset_line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _syntax_finding(file: str, text: str, exc: yaml.MarkedYAMLError) -> Finding:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if exc.context and exc.problem:
        message += f" ({exc.context}"
        ctx = exc.context_mark
        if ctx is not None and (ctx.line, ctx.column) != (line - 1, col - 1):
            message += f" started at line {ctx.line + 1}, column {ctx.column + 1}"
        message += ")"
    hint = "fix the indentation or quoting at this position"
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        hint = "YAML does not allow tabs for indentation: use spaces"
    return _finding(file, line, col, message, hint)


_COMMENT = re.compile(r"(?:^|(?<=[ \t]))#[^\n]*", re.MULTILINE)


def comments_of(text: str) -> list[Comment]:
    """Every comment candidate of a text: (line, column, text from the '#')."""
    if "#" not in text:
        return []
    out: list[Comment] = []
    line, counted = 1, 0
    for m in _COMMENT.finditer(text):
        start = m.start()
        line += text.count("\n", counted, start)
        counted = start
        out.append((line, start - text.rfind("\n", 0, start), m.group()))
    return out


def _value_node(node: yaml.Node, key: str) -> yaml.Node | None:
    """The value of the first ``key`` of a mapping node (duplicates tolerated)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) and node.value else None


def _broken_from_node(node: yaml.Node, error: Location) -> BrokenDocument | None:
    """The identity a document declares, read leniently from its composed nodes."""
    kind = _scalar(_value_node(node, "kind"))
    meta = _value_node(node, "metadata")
    name = _scalar(_value_node(meta, "name")) if meta is not None else None
    if kind is None or name is None:
        return None
    return BrokenDocument(kind, name, _scalar(_value_node(meta, "client")), error)  # type: ignore[arg-type]


_DOC_START = re.compile(r"^(?:---|\.\.\.)(?:[ \t]|$)", re.MULTILINE)
_KIND_LINE = re.compile(r"^kind:[ \t]*[\"']?([A-Za-z]+)", re.MULTILINE)
_META_FLOW = re.compile(r"^metadata:[ \t]*\{([^}\n]*)", re.MULTILINE)
_META_BLOCK = re.compile(r"^metadata:[ \t]*(?:#.*)?\n((?:[ \t]+\S.*(?:\n|$)|[ \t]*\n)+)",
                         re.MULTILINE)
_FIELD = re.compile(r"(?:^|[{,\s])(name|client):[ \t]*[\"']?([a-z0-9][-a-z0-9]*)")


def _broken_from_text(text: str, error: Location) -> list[BrokenDocument]:
    """Identities declared in text the parser could not read (after a syntax error):
    a top-level ``kind:`` and the ``name``/``client`` of ``metadata``, per document."""
    out = []
    for chunk in _DOC_START.split(text):
        kind = _KIND_LINE.search(chunk)
        fields: dict[str, str] = {}
        flow = _META_FLOW.search(chunk)
        block = None if flow else _META_BLOCK.search(chunk)
        if flow:
            for m in _FIELD.finditer(flow.group(1)):
                fields.setdefault(m.group(1), m.group(2))
        elif block:
            lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
            indent = len(lines[0]) - len(lines[0].lstrip())
            for ln in lines:
                line = (_FIELD.match(ln[indent:]) if len(ln) - len(ln.lstrip()) == indent
                        else None)
                if line:
                    fields.setdefault(line.group(1), line.group(2))
        if kind and "name" in fields:
            out.append(BrokenDocument(kind.group(1), fields["name"], fields.get("client"),
                                      error))
    return out


def _unread_text(text: str, after_line: int) -> str:
    """The text from 0-based line ``after_line`` on (what the parser did not load)."""
    at = 0
    for _ in range(after_line):
        at = text.find("\n", at) + 1
        if at == 0:
            return ""
    return text[at:]


def parse_text(text: str, file: str, *, record_positions: bool = True,
               sha256: str = "", lazy_positions: bool = False) -> FileResult:
    """Parse one file's text into documents; problems become findings.

    ``lazy_positions``: record no positions now; ``Document.positions`` parses the
    text again the first time a position is asked for (findings are rare).
    """
    result = FileResult(file=file, sha256=sha256, comments=comments_of(text))
    lazy = LazyPositions(text, file) if lazy_positions else None
    if lazy is not None:
        record_positions = False
    try:
        if _nesting_bound(text) > _CHEAP_DEPTH_BOUND:
            deep = _too_deep(text)
            if deep is not None:
                _unreadable(result, text, _finding(
                    file, deep.line + 1, deep.column + 1,
                    f"nesting deeper than {MAX_DEPTH} levels", "flatten the structure"))
                return result
        loader = _Composer(text)
    except yaml.MarkedYAMLError as exc:
        _unreadable(result, text, _syntax_finding(file, text, exc))
        return result
    except yaml.YAMLError as exc:
        _unreadable(result, text, _reader_finding(file, text, exc))
        return result
    index = 0
    read_lines = 0  # lines of the text composed so far (the rest is lost on a syntax error)
    try:
        while loader.check_node():
            node = loader.get_node()
            read_lines = node.end_mark.line
            builder = _Builder(record_positions)
            mark = node.start_mark
            try:
                data = builder.build(node, (), 0)
            except _Problem as problem:
                m = problem.node.start_mark
                finding = _finding(file, m.line + 1, m.column + 1, problem.message,
                                   problem.hint)
                result.findings.append(finding)
                broken = _broken_from_node(node, finding.location)
                if broken is not None:
                    result.broken.append(broken)
                index += 1
                continue
            if data is not None:  # an empty document (e.g. a trailing ---) is no resource
                result.documents.append(Document(
                    file, index, data, mark.line + 1, mark.column + 1,
                    None if lazy is not None else builder.positions, sha256, lazy))
            index += 1
    except yaml.MarkedYAMLError as exc:
        _unreadable(result, _unread_text(text, read_lines), _syntax_finding(file, text, exc))
    except yaml.YAMLError as exc:
        _unreadable(result, _unread_text(text, read_lines), _reader_finding(file, text, exc))
    except RecursionError:  # the pure-Python composer on a deep document
        result.findings.append(_finding(file, 1, 1, f"nesting deeper than {MAX_DEPTH} levels",
                                        "flatten the structure"))
    finally:
        loader.dispose()
    return result


def _unreadable(result: FileResult, unread: str, finding: Finding) -> None:
    """Record an error that stopped the parser, and what the unread text declares."""
    result.findings.append(finding)
    result.broken.extend(_broken_from_text(unread, finding.location))


def _reader_finding(file: str, text: str, exc: yaml.YAMLError) -> Finding:
    """A reader error (a control character, ...) at its character position."""
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        line, col = _offset_line_col(text, position)
        char = getattr(exc, "character", None)
        code = ord(char) if isinstance(char, str) else char
        what = (f"character U+{code:04X} is not allowed in YAML" if isinstance(code, int)
                else "invalid character")
        return _finding(file, line, col, f"YAML error: {what}",
                        "remove the control character or quote it as an escape")
    return _finding(file, 1, 1, f"YAML error: {exc}")


def _undecodable(raw: bytes, file: str, sha: str, finding: Finding) -> FileResult:
    """A file that is no YAML text, with the identities its text declares (so what
    refers to them says they do not load, and where)."""
    result = FileResult(file, sha)
    _unreadable(result, raw.decode("utf-8", errors="replace").replace("\x00", " "), finding)
    return result


def load_bytes(raw: bytes, file: str, *, record_positions: bool = True,
               max_bytes: int = MAX_FILE_BYTES, lazy_positions: bool = False) -> FileResult:
    """Decode and parse one file's bytes."""
    sha = hashlib.sha256(raw).hexdigest()
    if len(raw) > max_bytes:
        return FileResult(file, sha, findings=[_finding(
            file, 1, 1, f"file is {len(raw)} bytes, over the limit of {max_bytes}",
            "split it into smaller files")])
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col_of_offset(raw, exc.start)
        return _undecodable(raw, file, sha, _finding(
            file, line, col, f"file is not UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8"))
    if "\x00" in text:
        line, col = _line_col_of_offset(raw, raw.index(b"\x00"))
        return _undecodable(raw, file, sha, _finding(
            file, line, col, "file contains a NUL byte", "save the file as UTF-8 text"))
    return parse_text(text, file, record_positions=record_positions, sha256=sha,
                      lazy_positions=lazy_positions)


def relative_name(path: Path, root: Path) -> str:
    """The repo-relative, slash-separated name of a path (absolute when outside the root)."""
    full, base = os.path.abspath(path), os.path.abspath(root)
    if full == base:
        return "."
    prefix = base if base.endswith(os.sep) else base + os.sep
    if full.startswith(prefix):
        return full[len(prefix):].replace(os.sep, "/")
    return Path(full).as_posix()


def load_file(path: Path, root: Path, *, record_positions: bool = True,
              max_bytes: int = MAX_FILE_BYTES, lazy_positions: bool = False) -> FileResult:
    name = relative_name(path, root)
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            target = Path(path).resolve()
            try:
                target.relative_to(Path(root).resolve())
            except ValueError:
                return FileResult(name, "", findings=[_finding(
                    name, 1, 1, f"symlink points outside the repository ({target})",
                    "copy the file into the repository instead of linking it")])
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                return FileResult(name, "", findings=[_finding(
                    name, 1, 1, f"file is {size} bytes, over the limit of {max_bytes}",
                    "split it into smaller files")])
            raw = fh.read()  # not read(max_bytes + 1): that allocates 1 MiB per file
    except OSError as exc:
        return FileResult(name, "", findings=[_finding(
            name, 1, 1, f"cannot read file: {exc.strerror or exc}", "check its permissions")])
    return load_bytes(raw, name, record_positions=record_positions, max_bytes=max_bytes,
                      lazy_positions=lazy_positions)


def _walk(folder: str, out: set[str]) -> None:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            _walk(entry.path, out)
        elif name.endswith(YAML_SUFFIXES):
            out.add(entry.path)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Every *.yaml / *.yml under the given files and folders, sorted, without duplicates.

    Hidden files and folders are skipped; symlinked folders are not followed (a
    symlinked file is listed, and the loader checks where it points).
    """
    found: set[str] = set()
    for base in paths:
        if base.is_file() or (base.is_symlink() and not base.is_dir()):
            found.add(os.path.normpath(str(base)))
        elif base.is_dir():
            _walk(os.path.normpath(str(base)), found)
    return [Path(p) for p in sorted(found)]


def iter_documents(results: Iterable[FileResult]) -> Iterator[Document]:
    for result in results:
        yield from result.documents
